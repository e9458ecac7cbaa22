"""Top-a sampling: keep tokens with probability at least ``a * p_max ** 2``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

import arkit


class TopA:
    """Truncate adaptively: a confident distribution keeps few tokens, a flat one many."""

    deterministic = False

    def __init__(self, *, a: float = 0.2, temperature: float = 1.0) -> None:
        if not 0.0 < a <= 1.0:
            raise arkit.ConfigError(f"top-a a must lie in (0, 1], got {a!r}")
        if not temperature > 0.0:
            raise arkit.ConfigError(f"temperature must be > 0, got {temperature!r}")
        self.a, self.temperature = float(a), float(temperature)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"a": self.a, "temperature": self.temperature}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        scores = logits / self.temperature
        probs = scores.softmax(dim=-1)
        threshold = self.a * probs.max(dim=-1, keepdim=True).values ** 2
        return scores.masked_fill(probs < threshold, float("-inf"))

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return torch.multinomial(scores.softmax(dim=-1), 1, generator=generator).squeeze(-1)
