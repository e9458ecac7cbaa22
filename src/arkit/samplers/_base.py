"""What the single-processor samplers share: multinomial selection after their processing."""

from __future__ import annotations

import torch

from ..errors import GenerationError


def check_support(scores: torch.Tensor) -> None:
    """Raise :class:`GenerationError` when processing left some row without any token."""
    supported = torch.isfinite(scores).any(dim=-1)
    if not bool(supported.all()):  # one check per step; which row only when it fails
        row = int((~supported).nonzero()[0, 0])
        raise GenerationError(
            f"the sampler's processing left no token for row {row} (every id is banned or truncated); "
            f"loosen the truncation, penalties or bans"
        )


class MultinomialSelect:
    """Mixin: ``select`` draws from ``softmax(scores)`` with the given generator."""

    deterministic = False

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        check_support(scores)
        probs = scores.float().softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
