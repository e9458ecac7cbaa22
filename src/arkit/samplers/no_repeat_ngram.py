"""No repeated n-grams. Registered as ``core/no-repeat-ngram``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import MultinomialSelect

__all__ = ["NoRepeatNgram"]


class NoRepeatNgram(MultinomialSelect):
    """Forbid any id that would repeat an ``n``-gram already in the row (prompt included)."""

    def __init__(self, *, n: int = 3) -> None:
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"no-repeat-ngram n must be an integer >= 1, got {n!r}")
        self.n = n

    @property
    def config(self) -> Mapping[str, Any]:
        return {"n": self.n}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return F.no_repeat_ngram(logits, tokens, self.n)
