"""``speech/codebooks``: flat codec tokens in codebook order, ending only at a frame boundary.

With the flatten pattern the model emits one codec token per step; position ``n`` of the
audio must come from codebook ``n % K``'s id range (its first ``field_sizes[j]`` ids when the codebooks are
not all full, as with codec2's ``split="fields"``), ``eos`` is allowed only between
frames (after ``min_frames``), and after ``max_frames`` frames only ``eos`` is. Every
generated sequence therefore decodes to whole codec frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from arkit import ConfigError

__all__ = ["CodebookConstraint"]


class CodebookConstraint:
    """Allowed ids per position of a flat (frame-major) codec sequence; the state is ``(tokens so far, ended)``."""

    def __init__(self, num_codebooks: int = 6, codebook_size: int = 256, audio_offset: int = 59, eos: int = 2,
                 vocab_size: int = 1595, min_frames: int = 1, max_frames: int = 100,
                 field_sizes: Sequence[int] | None = None) -> None:
        if num_codebooks < 1 or codebook_size < 1 or min_frames < 0 or max_frames < max(1, min_frames):
            raise ConfigError("CodebookConstraint needs num_codebooks, codebook_size >= 1 and "
                              "1 <= max_frames, min_frames <= max_frames")
        if audio_offset + num_codebooks * codebook_size > vocab_size or not 0 <= eos < vocab_size:
            raise ConfigError(f"codec ids [{audio_offset}, {audio_offset + num_codebooks * codebook_size}) and eos "
                              f"{eos} must lie in the vocabulary of {vocab_size} ids")
        self.K, self.size, self.offset, self.eos = int(num_codebooks), int(codebook_size), int(audio_offset), int(eos)
        self.vocab_size, self.min_frames, self.max_frames = int(vocab_size), int(min_frames), int(max_frames)
        sizes = [self.size] * self.K if field_sizes is None else [int(f) for f in field_sizes]
        if len(sizes) != self.K or not all(1 <= f <= self.size for f in sizes):
            raise ConfigError(f"field_sizes must give each of the {self.K} codebooks a size in [1, {self.size}], "
                              f"got {list(sizes)}")
        self.field_sizes = tuple(sizes)
        self._masks = []
        for j in range(self.K):
            m = torch.zeros(self.vocab_size, dtype=torch.bool)
            m[self.offset + j * self.size: self.offset + j * self.size + sizes[j]] = True
            self._masks.append(m)
        self._eos_mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        self._eos_mask[self.eos] = True
        self._frame_start_mask = self._masks[0] | self._eos_mask

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, **kwargs: Any) -> CodebookConstraint:
        """The constraint that matches a :class:`~arkit_speech.tts.TTSTokenizer`."""
        return cls(num_codebooks=tokenizer.num_codebooks, codebook_size=tokenizer.codebook_size,
                   audio_offset=tokenizer.audio_offset, eos=tokenizer.special_tokens["eos"],
                   vocab_size=tokenizer.vocab_size, field_sizes=getattr(tokenizer, "field_sizes", None), **kwargs)

    @property
    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"num_codebooks": self.K, "codebook_size": self.size, "audio_offset": self.offset,
                                  "eos": self.eos, "vocab_size": self.vocab_size, "min_frames": self.min_frames,
                                  "max_frames": self.max_frames}
        if set(self.field_sizes) != {self.size}:
            config["field_sizes"] = list(self.field_sizes)
        return config

    def start(self) -> tuple[int, bool]:
        return (0, False)

    def allowed(self, state: tuple[int, bool]) -> torch.Tensor:
        n, ended = state
        if ended:
            return torch.zeros(self.vocab_size, dtype=torch.bool)
        j, frames = n % self.K, n // self.K
        if j == 0 and frames >= self.max_frames:
            return self._eos_mask
        if j == 0 and frames >= self.min_frames:
            return self._frame_start_mask
        return self._masks[j]

    def advance(self, state: tuple[int, bool], token: int) -> tuple[int, bool]:
        n, ended = state
        if ended or int(token) == self.eos:
            return (n, True)
        return (n + 1, False)

    def complete(self, state: tuple[int, bool]) -> bool:
        n, ended = state
        return ended or (n % self.K == 0 and n // self.K >= self.min_frames)
