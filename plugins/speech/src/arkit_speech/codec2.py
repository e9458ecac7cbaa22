"""``speech/codec2``: the non-learned codec2 speech codec (pycodec2) as K codebook tokens per frame.

codec2 at 8 kHz packs each frame into a few bytes (mode 1200: 48 bits per 40 ms, 25
frames per second). ``split="bits"`` (the default) cuts the frame's bits into ``K = bits /
codebook_bits`` equal slices, whatever codec2 stored in them. ``split="fields"`` (mode 1200)
cuts them along codec2's own parameters instead, so that each token is one quantiser index:
the four voicing bits and the spare bit, the two joint pitch-and-energy indices (8 bits each)
and the three stages of the spectral-envelope (LSP) vector quantiser (9 bits each): K = 6,
every codebook 512 ids wide (the narrower fields use the first 32 or 256 of them). Codebook
``j`` owns ids ``[j * codebook_size, (j + 1) * codebook_size)``, so a frame is ``K`` ids and a
flat sequence is frame-major (frame 0's K ids, frame 1's...).

Any bit pattern is a valid codec2 frame, so every id sequence decodes to audio: a
trailing partial frame is dropped, ids out of a position's codebook are read modulo
its size, and a value modulo its field's size. ``encode(decode(ids)) == ids`` does not
hold (codec2 is lossy), but ``frames -> ids -> frames`` is exact (:meth:`frames_to_ids` / :meth:`ids_to_frames`).
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
_FIELDS = {  # mode -> each codebook's bit positions in the frame (0 = the first bit codec2 packs)
    # codec2_encode_1200: voicing, voicing, Wo+E (8), voicing, voicing, Wo+E (8), 3 LSP VQ stages (9 each), spare
    1200: ((0, 1, 10, 11, 47), tuple(range(2, 10)), tuple(range(12, 20)), tuple(range(20, 29)),
           tuple(range(29, 38)), tuple(range(38, 47))),
}


class Codec2Tokenizer(FrameCodes):
    """Audio <-> codec2 frames as ``K`` tokens each. ``rate`` 8,000 Hz; other rates are resampled with a warning."""

    name = "speech/codec2"
    lossless = False
    rate = 8000

    def __init__(self, mode: int = 1200, codebook_bits: int = 8, split: str = "bits") -> None:
        if mode not in _MODES:
            raise ConfigError(f"codec2 mode {mode} is not supported; use one of {sorted(_MODES)}")
        if split not in ("bits", "fields"):
            raise ConfigError(f"split={split!r}: use 'bits' (equal slices of codebook_bits) or 'fields' (codec2's "
                              f"own parameters)")
        if split == "fields" and mode not in _FIELDS:
            raise ConfigError(f"split='fields' knows codec2 mode(s) {sorted(_FIELDS)}, not {mode}; use split='bits'")
        if split == "bits" and (codebook_bits not in (4, 6, 8, 12, 16) or _MODES[mode] % codebook_bits):
            raise ConfigError(f"codebook_bits={codebook_bits} must divide the {_MODES[mode]} bits of a mode-{mode} "
                              f"frame (and be one of 4, 6, 8, 12, 16)")
        import pycodec2

        self.mode, self.codebook_bits, self.split = int(mode), int(codebook_bits), split
        self._codec = pycodec2.Codec2(self.mode)
        self.samples_per_frame = int(self._codec.samples_per_frame())
        self.bytes_per_frame = (_MODES[mode] + 7) // 8
        self.bits = _MODES[mode]
        if split == "fields":
            self._fields = _FIELDS[mode]
        else:
            self._fields = tuple(tuple(range(j * codebook_bits, (j + 1) * codebook_bits))
                                 for j in range(self.bits // codebook_bits))
        self.field_sizes = tuple(1 << len(f) for f in self._fields)
        """How many values each codebook's field can hold (``codebook_size`` for every one under ``split="bits"``)."""
        self.num_codebooks = len(self._fields)
        self.codebook_size = max(self.field_sizes)
        self.vocab_size = self.num_codebooks * self.codebook_size
        self.special_tokens: Mapping[str, int] = {}
        self.frames_per_second = self.rate / self.samples_per_frame

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"mode": self.mode, "codebook_bits": self.codebook_bits}
        if self.split != "bits":  # the default is left out: configs saved before it existed load unchanged
            config["split"] = self.split
        return config

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
        return self.bytes_to_frames(frames)

    def frames_to_audio(self, frames: np.ndarray) -> Audio:
        """Decode codebook values ``[T, K]`` to audio at 8 kHz (``T * samples_per_frame`` samples)."""
        codec = self._fresh()
        pcm = [codec.decode(f) for f in self.frames_to_bytes(frames)]
        out = np.concatenate(pcm) if pcm else np.zeros(0, np.int16)
        return Audio.from_int16(out, self.rate)

    def frames_from(self, frames: np.ndarray, source: Codec2Tokenizer) -> np.ndarray:
        """``source``'s codebook values ``[T, K']`` of codec2 frames in this tokenizer's layout (the same packed
        frames cut another way); both must be the same codec2 mode."""
        if source.mode != self.mode:
            raise ConfigError(f"codec2 mode {source.mode} frames cannot be read as mode {self.mode}: re-encode the "
                              f"audio instead")
        return self.bytes_to_frames(source.frames_to_bytes(frames))

    def _fresh(self) -> Any:
        """A new codec2 state: its encoder and decoder carry state from frame to frame, so every call starts afresh
        (the same ids always decode to the same samples)."""
        import pycodec2

        return pycodec2.Codec2(self.mode)

    def bytes_to_frames(self, data: list[bytes]) -> np.ndarray:
        """codec2's packed frames (``bytes_per_frame`` bytes each, as ``pycodec2`` encodes them) to codebook values
        ``int64[T, K]``."""
        raw = np.frombuffer(b"".join(data), dtype=np.uint8).reshape(-1, self.bytes_per_frame)
        bits = np.unpackbits(raw, axis=1).astype(np.int64)
        return np.stack([(bits[:, list(f)] << np.arange(len(f) - 1, -1, -1)).sum(axis=1) for f in self._fields],
                        axis=1)

    def frames_to_bytes(self, frames: np.ndarray) -> list[bytes]:
        """Codebook values ``[T, K]`` to codec2's packed frames; each value is read modulo its field's size."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1, self.num_codebooks) % np.array(self.field_sizes)
        bits = np.zeros((len(frames), 8 * self.bytes_per_frame), dtype=np.uint8)
        for j, f in enumerate(self._fields):
            bits[:, list(f)] = (frames[:, j:j + 1] >> np.arange(len(f) - 1, -1, -1)) & 1
        return [row.tobytes() for row in np.packbits(bits, axis=1)]
