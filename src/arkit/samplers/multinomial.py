"""Sampling with temperature, top-k and top-p (nucleus) truncation.

Registered as ``core/multinomial``. ``temperature=0`` is greedy decoding. For
other processors or another order, compose them with ``core/chain``.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import check_support

__all__ = ["MultinomialSampler"]


class MultinomialSampler:
    """Draws the next token from ``softmax(logits / temperature)`` restricted to top-k and top-p.

    - ``top_k``: keep the ``k`` most likely ids (``None`` or 0: all).
    - ``top_p``: keep the smallest set of most likely ids whose probability
      reaches ``p``, in ``(0, 1]``; the most likely id is always kept.
    """

    def __init__(self, *, temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature < math.inf:
            raise ConfigError(f"temperature must be a finite number >= 0 (0 is greedy), got {temperature!r}")
        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0):
            raise ConfigError(f"top_k must be a non-negative integer or None, got {top_k!r}")
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0.0 < top_p <= 1.0:
            raise ConfigError(f"top_p must lie in (0, 1], got {top_p!r}")
        self.temperature, self.top_k, self.top_p = float(temperature), top_k or None, float(top_p)
        self.deterministic = self.temperature == 0.0

    @property
    def config(self) -> Mapping[str, Any]:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if self.deterministic:
            return logits
        scores = F.temperature(logits, self.temperature)
        if self.top_k is not None:
            scores = F.top_k(scores, self.top_k)
        return F.top_p(scores, self.top_p)

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        check_support(scores)
        if self.deterministic:
            return scores.argmax(dim=-1)
        probs = scores.float().softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
