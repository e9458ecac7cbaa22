"""The training objective: what a head's output is scored against.

:func:`loss_sum` returns the *sum* of per-position losses over the positions that
predict something, and how many there are, so that gradient accumulation and data
parallelism can divide by the global count and reproduce one big batch exactly.
The objective depends on the head:

- a head with a ``loss(hidden, targets)`` method (multi-token heads, Medusa-style
  heads, anything with its own multi-position objective) is trusted with it. It gets
  the backbone's hidden states ``[B, T, D]`` and the next-token targets ``[B, T]``
  (``IGNORE`` = -100 where nothing is predicted; it may look further ahead in the
  same row for later positions) and returns either per-position losses ``[B, T]``
  (summed here over the valid positions) or a scalar *mean* over the valid positions;
- a head returning a ``torch.distributions.Distribution`` (continuous heads such as
  ``core/gaussian-mixture``) is trained by negative log-likelihood of real-valued
  targets;
- a head returning logits ``[B, T, V]`` is trained by next-token cross-entropy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .data import IGNORE

__all__ = ["loss_sum"]


def loss_sum(head: Any, hidden: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sum of losses, number of scored positions)`` for a batch; both scalar tensors.

    ``valid`` (``BoolTensor[B, T]``) marks the scored positions; by default the
    positions whose integer target is not ``IGNORE``.
    """
    if valid is None:
        valid = targets != IGNORE if not targets.is_floating_point() else torch.ones(targets.shape[:2], dtype=torch.bool, device=targets.device)
    count = valid.sum()
    custom = getattr(head, "loss", None)
    if callable(custom):
        out = custom(hidden, targets)
        if out.dim() == 0:
            return out.float() * count, count
        return out.float().masked_fill(~valid, 0.0).sum(), count
    out = head(hidden)
    if isinstance(out, torch.distributions.Distribution):
        nll = -out.log_prob(targets.float())  # [B, T]
        return nll.masked_fill(~valid, 0.0).sum(), count
    logits = out.reshape(-1, out.shape[-1]).float()
    flat = targets.masked_fill(~valid, IGNORE).reshape(-1)
    return F.cross_entropy(logits, flat, ignore_index=IGNORE, reduction="sum"), count
