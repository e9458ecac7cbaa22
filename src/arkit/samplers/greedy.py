"""Greedy decoding: always the most likely token. Registered as ``core/greedy``."""

from __future__ import annotations

from collections.abc import Mapping
import math
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
        # Only a row whose maximum is not finite can be left without support. The sum of the maxima is finite
        # exactly when each is (an overflowing sum only runs the exact check): one reduction and one sync per
        # step, where torch.isfinite (a composite of several ops) + all + bool cost a decode step ~1 %.
        if not math.isfinite(best.sum()):
            check_support(scores)
        return ids
