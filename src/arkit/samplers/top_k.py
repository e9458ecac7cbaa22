"""Top-k truncation. Registered as ``core/top-k``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import MultinomialSelect

__all__ = ["TopK"]


class TopK(MultinomialSelect):
    """Keep the ``k`` most likely ids (ties with the k-th included)."""

    def __init__(self, *, k: int = 50) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ConfigError(f"top-k k must be an integer >= 1, got {k!r}")
        self.k = k

    @property
    def config(self) -> Mapping[str, Any]:
        return {"k": self.k}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return F.top_k(logits, self.k)
