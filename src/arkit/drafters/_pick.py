"""How a model-based drafter picks each draft token from its logits (``core/draft-model``, ``core/eagle``)."""

from __future__ import annotations

import torch

__all__ = ["pick"]


def pick(logits: torch.Tensor, temperature: float,
         generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(tokens, probs)`` per row: the argmax and no ``probs`` at ``temperature`` 0, else a draw from the softmax at
    ``temperature`` (from ``generator``, or torch's global one) and that softmax, which exact acceptance needs."""
    logits = logits.float()
    if temperature == 0:
        return logits.argmax(-1), None
    probs = (logits / temperature).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0], probs
