"""What the single-processor samplers share: multinomial selection after their processing."""

from __future__ import annotations

import torch


class MultinomialSelect:
    """Mixin: ``select`` draws from ``softmax(scores)`` with the given generator."""

    deterministic = False

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        probs = scores.float().softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
