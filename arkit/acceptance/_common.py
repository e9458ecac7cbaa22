"""What the acceptance rules share: reading a draft, and drawing the target's own token."""

from __future__ import annotations

import torch

from ..types import Draft


def draft_lengths(draft: Draft) -> torch.Tensor:
    """``LongTensor[B]``: real proposals per row (all ``k`` when the drafter gave no lengths)."""
    B, k = draft.tokens.shape
    if draft.lengths is None:
        return torch.full((B,), k, dtype=torch.long, device=draft.tokens.device)
    return draft.lengths.to(device=draft.tokens.device, dtype=torch.long).clamp(0, k)


def kept_prefix(ok: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Leading ``True`` run of each row of ``ok [B, k]``, within the row's ``lengths``."""
    k = ok.shape[1]
    ok = ok & (torch.arange(k, device=ok.device) < lengths[:, None])
    return ok.long().cumprod(1).sum(1)


def at(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x[b, index[b]]`` for every row ``b``."""
    return x[torch.arange(x.shape[0], device=x.device), index]


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One id per row from ``probs [B, V]`` (a one-hot row gives its id whatever the draw)."""
    return torch.multinomial(probs.float(), 1, generator=generator)[:, 0]
