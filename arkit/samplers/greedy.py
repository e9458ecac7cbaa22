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
        check_support(scores)
        return scores.argmax(dim=-1)
