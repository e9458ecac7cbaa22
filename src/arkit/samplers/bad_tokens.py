"""Never emit certain ids or id sequences. Registered as ``core/bad-tokens``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import ConfigError, InputError
from ._base import MultinomialSelect

__all__ = ["BadTokens"]


class BadTokens(MultinomialSelect):
    """Ban single ids everywhere, and the last id of each longer sequence when the rest was just generated."""

    def __init__(self, *, sequences: Sequence[Sequence[int]] = ()) -> None:
        try:
            self.sequences = [tuple(int(t) for t in seq) for seq in sequences]
        except (TypeError, ValueError):
            raise ConfigError(f"bad-token sequences must be lists of token ids, got {sequences!r}") from None
        if any(not seq or min(seq) < 0 for seq in self.sequences):
            raise ConfigError("bad-token sequences must be non-empty lists of ids >= 0")
        self._single = sorted({seq[0] for seq in self.sequences if len(seq) == 1})
        self._longer = [seq for seq in self.sequences if len(seq) > 1]

    @property
    def config(self) -> Mapping[str, Any]:
        return {"sequences": [list(seq) for seq in self.sequences]}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        largest = max((max(seq) for seq in self.sequences), default=-1)
        if largest >= logits.shape[-1]:
            raise InputError(f"bad-tokens names token {largest}, beyond the vocabulary of {logits.shape[-1]}")
        banned = torch.zeros_like(logits, dtype=torch.bool)
        if self._single:
            banned[:, self._single] = True
        if self._longer:
            rows = tokens.tolist()
            for b, row in enumerate(rows):
                for seq in self._longer:
                    prefix = list(seq[:-1])
                    if len(row) >= len(prefix) and row[len(row) - len(prefix):] == prefix:
                        banned[b, seq[-1]] = True
        return logits.masked_fill(banned, float("-inf"))
