"""Greedy decoding: always the most likely token. Registered as ``core/greedy``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ._base import check_support

__all__ = ["GreedySampler"]


class GreedySampler:
    """Picks ``argmax`` of the logits; ties go to the lowest id."""

    deterministic = True

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return logits

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        best, ids = scores.max(dim=-1)  # the first maximum, like argmax
        if not bool(torch.isfinite(best).all()):  # only then can a row be left without support
            check_support(scores)
        return ids
