"""The frame-major id layout the speech tokenizers share.

A frame is ``K = num_codebooks`` codebook values; codebook ``j`` owns ids
``[j * codebook_size, (j + 1) * codebook_size)``, and a flat sequence is frame-major
(frame 0's K ids, frame 1's...). A tokenizer that subclasses :class:`FrameCodes`
provides ``audio_to_frames`` / ``frames_to_audio`` (its codec) and gets the id layout
and the Tokenizer protocol's ``encode`` / ``decode`` from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from arkit import InputError

from .audio import Audio

__all__ = ["FrameCodes"]


class FrameCodes:
    """``encode``/``decode`` and the id layout over a subclass's ``audio_to_frames``/``frames_to_audio``."""

    name: str  # the registered name, for error messages
    num_codebooks: int
    codebook_size: int
    vocab_size: int
    audio_to_frames: Callable[[Audio], np.ndarray]  # the codec: int64 frames [T, K]
    frames_to_audio: Callable[[np.ndarray], Audio]

    def frames_to_ids(self, frames: np.ndarray) -> list[int]:
        """Flat frame-major ids: codebook ``j``'s value ``v`` becomes ``j * codebook_size + v``."""
        frames = np.asarray(frames, dtype=np.int64).reshape(-1, self.num_codebooks)
        return (frames + np.arange(self.num_codebooks) * self.codebook_size).reshape(-1).tolist()

    def ids_to_frames(self, ids: Sequence[int]) -> np.ndarray:
        """Inverse of :meth:`frames_to_ids`; a trailing partial frame is dropped, values read modulo the codebook."""
        arr = np.asarray(list(ids), dtype=np.int64)
        arr = arr[: len(arr) - len(arr) % self.num_codebooks]
        return (arr % self.codebook_size).reshape(-1, self.num_codebooks)

    def encode(self, item: Any) -> list[int]:
        """Audio (an :class:`Audio`) to flat frame-major ids."""
        if not isinstance(item, Audio):
            raise InputError(f"{self.name} encodes arkit_speech.Audio, got {type(item).__name__}")
        return self.frames_to_ids(self.audio_to_frames(item))

    def decode(self, ids: Sequence[int]) -> Audio:
        """Flat ids to audio (whole frames; ids outside the vocabulary skipped); never raises on ids in range."""
        return self.frames_to_audio(self.ids_to_frames([i for i in ids if 0 <= i < self.vocab_size]))
