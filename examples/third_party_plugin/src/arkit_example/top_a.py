"""``example/top-a``: top-a sampling, which keeps tokens with probability at least ``a * p_max ** 2``.

arkit already ships ``core/min-p`` (threshold ``min_p * p_max``); top-a squares
``p_max``, so it truncates hard when the model is confident and hardly at all
when the distribution is flat.
"""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import torch

import arkit

__all__ = ["TopA"]


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise arkit.ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


class TopA:
    """Sample from ``softmax(logits / temperature)`` restricted to ids with ``p >= a * p_max ** 2``.

    - ``a``: in ``(0, 1]``. The most likely id always stays (``p_max >= a * p_max ** 2``).
    - ``temperature``: ``> 0``; applied before the threshold.
    """

    deterministic = False

    def __init__(self, *, a: float = 0.2, temperature: float = 1.0) -> None:
        self.a = _number("a", a)
        self.temperature = _number("temperature", temperature)
        if not 0.0 < self.a <= 1.0:
            raise arkit.ConfigError(f"a must lie in (0, 1], got {a!r}")
        if not self.temperature > 0.0:
            raise arkit.ConfigError(f"temperature must be > 0, got {temperature!r}; use core/greedy for argmax")

    @property
    def config(self) -> Mapping[str, Any]:
        """``{"a": ..., "temperature": ...}``: ``TopA(**config)`` rebuilds this sampler."""
        return {"a": self.a, "temperature": self.temperature}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Scaled logits, ``-inf`` below the top-a threshold (``logits`` is left untouched)."""
        scores = logits / self.temperature
        probs = scores.float().softmax(dim=-1)
        threshold = self.a * probs.max(dim=-1, keepdim=True).values ** 2
        return scores.masked_fill(probs < threshold, float("-inf"))

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One id per row drawn from ``softmax(scores)`` with ``generator``."""
        empty = ~torch.isfinite(scores).any(dim=-1)
        if bool(empty.any()):
            row = int(empty.nonzero()[0, 0])
            raise arkit.GenerationError(f"example/top-a: row {row} has no token left to sample (every score is -inf)")
        probs = scores.float().softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
