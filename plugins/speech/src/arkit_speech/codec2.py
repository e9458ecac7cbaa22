"""``speech/codec2``: the non-learned codec2 speech codec (pycodec2) as K codebook tokens per frame.

codec2 at 8 kHz packs each frame into a few bytes (mode 1200: 48 bits per 40 ms, 25
frames per second). The frame's bits are split into ``K = bits / codebook_bits``
codebook tokens; codebook ``j`` owns ids ``[j * 2**codebook_bits, (j + 1) * 2**codebook_bits)``,
so a frame is ``K`` ids and a flat sequence is frame-major (frame 0's K ids, frame 1's...).

Any bit pattern is a valid codec2 frame, so every id sequence decodes to audio: a
trailing partial frame is dropped, ids out of a position's codebook are read modulo
its size. ``encode(decode(ids)) == ids`` does not hold (codec2 is lossy), but
``frames -> ids -> frames`` is exact (:meth:`frames_to_ids` / :meth:`ids_to_frames`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from arkit import ConfigError

from .audio import Audio, as_audio
from .frames import FrameCodes

__all__ = ["Codec2Tokenizer"]

_MODES = {3200: 64, 2400: 48, 1600: 64, 1400: 56, 1300: 52, 1200: 48}  # bits per frame


class Codec2Tokenizer(FrameCodes):
    """Audio <-> codec2 frames as ``K`` tokens each. ``rate`` 8,000 Hz; other rates are resampled with a warning."""

    name = "speech/codec2"
    lossless = False
    rate = 8000

    def __init__(self, mode: int = 1200, codebook_bits: int = 8) -> None:
        if mode not in _MODES:
            raise ConfigError(f"codec2 mode {mode} is not supported; use one of {sorted(_MODES)}")
        if codebook_bits not in (4, 6, 8, 12, 16) or _MODES[mode] % codebook_bits:
            raise ConfigError(f"codebook_bits={codebook_bits} must divide the {_MODES[mode]} bits of a mode-{mode} "
                              f"frame (and be one of 4, 6, 8, 12, 16)")
        import pycodec2

        self.mode, self.codebook_bits = int(mode), int(codebook_bits)
        self._codec = pycodec2.Codec2(self.mode)
        self.samples_per_frame = int(self._codec.samples_per_frame())
        self.bytes_per_frame = (_MODES[mode] + 7) // 8
        self.bits = _MODES[mode]
        self.num_codebooks = self.bits // self.codebook_bits
        self.codebook_size = 1 << self.codebook_bits
        self.vocab_size = self.num_codebooks * self.codebook_size
        self.special_tokens: Mapping[str, int] = {}
        self.frames_per_second = self.rate / self.samples_per_frame

    @property
    def config(self) -> dict[str, Any]:
        return {"mode": self.mode, "codebook_bits": self.codebook_bits}

    # -- frames <-> bytes <-> ids ---------------------------------------------------
    def audio_to_frames(self, audio: Audio) -> np.ndarray:
        """Encode audio to codebook values ``int64[T, K]`` (each in ``[0, codebook_size)``)."""
        audio = as_audio(audio, self.rate)
        pcm = audio.to_int16()
        pad = (-len(pcm)) % self.samples_per_frame
        pcm = np.concatenate([pcm, np.zeros(pad, np.int16)])
        codec = self._fresh()
        frames = [codec.encode(pcm[i:i + self.samples_per_frame])
                  for i in range(0, len(pcm), self.samples_per_frame)]
        return np.stack([self._bytes_to_values(f) for f in frames]) if frames else np.zeros((0, self.num_codebooks),
                                                                                              np.int64)

    def frames_to_audio(self, frames: np.ndarray) -> Audio:
        """Decode codebook values ``[T, K]`` to audio at 8 kHz (``T * samples_per_frame`` samples)."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1, self.num_codebooks) % self.codebook_size
        codec = self._fresh()
        pcm = [codec.decode(self._values_to_bytes(f)) for f in frames]
        out = np.concatenate(pcm) if pcm else np.zeros(0, np.int16)
        return Audio.from_int16(out, self.rate)

    def _fresh(self) -> Any:
        """A new codec2 state: its encoder and decoder carry state from frame to frame, so every call starts afresh
        (the same ids always decode to the same samples)."""
        import pycodec2

        return pycodec2.Codec2(self.mode)

    def _bytes_to_values(self, data: bytes) -> np.ndarray:
        bits = int.from_bytes(data, "big") >> (8 * self.bytes_per_frame - self.bits)
        shifts = np.arange(self.num_codebooks - 1, -1, -1) * self.codebook_bits
        return np.array([(bits >> int(s)) & (self.codebook_size - 1) for s in shifts], dtype=np.int64)

    def _values_to_bytes(self, values: np.ndarray) -> bytes:
        bits = 0
        for v in values:
            bits = (bits << self.codebook_bits) | int(v)
        return (bits << (8 * self.bytes_per_frame - self.bits)).to_bytes(self.bytes_per_frame, "big")
