"""Token recycling (Luo et al. 2024): drafts from the target's recent predictions. Registered as ``core/token-recycling``.

Training-free. Every verification pass makes the target predict a distribution
after each token it was fed; the top ``m`` candidates are usually thrown away.
Token recycling keeps them in an adjacency table ``[V, m]``: row ``t`` holds the
``m`` most likely successors of token ``t`` the last time the target saw ``t``
(best first; ``-1`` where nothing is known yet). A draft is a chain: from the
pending token follow the best known successor, ``k`` times, stopping at an
unknown entry. The table is updated after every pass (:meth:`observe`) from all
positions the target scored, accepted or not, and it persists across
generations: it is a buffer of this ``nn.Module``, so it is saved and loaded
with the pipeline. The paper drafts a tree from the top-``m`` candidates; arkit's
verification takes chains, so only each row's best successor is followed (the
other ``m - 1`` are kept for tree drafting). Pays off on repetitive output and
after a warm-up on similar text; costs a table lookup per draft token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError
from ..types import Draft, Verification

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["TokenRecycling"]


class TokenRecycling(nn.Module):
    """An adjacency table of each token's latest top-``m`` successors, followed as a chain."""

    table: torch.Tensor

    def __init__(self, *, vocab_size: int = 512, m: int = 8) -> None:
        super().__init__()
        for key, value in (("vocab_size", vocab_size), ("m", m)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"token recycling {key} must be a positive integer, got {value!r}")
        if m > vocab_size:
            raise ConfigError(f"token recycling m ({m}) cannot exceed vocab_size ({vocab_size})")
        self.vocab_size, self.m = vocab_size, m
        self.register_buffer("table", torch.full((vocab_size, m), -1, dtype=torch.long))

    @property
    def config(self) -> Mapping[str, Any]:
        return {"vocab_size": self.vocab_size, "m": self.m}

    def start(self, pipe: Pipeline, batch_size: int) -> None:
        """Nothing to reset: the table carries over from earlier generations."""

    @torch.no_grad()
    def observe(self, verification: Verification) -> None:
        fed, logits = verification.tokens, verification.logits
        if verification.live is not None:  # finished rows were fed placeholders: learn nothing from them
            fed, logits = fed[verification.live], logits[verification.live]
        fed = fed.reshape(-1).to(self.table.device)
        top = logits.reshape(-1, logits.shape[-1]).topk(self.m, dim=-1).indices.to(self.table.device)
        # a token fed twice keeps its latest successors: write each token's last occurrence only
        order = torch.arange(fed.numel(), device=fed.device)
        latest = torch.zeros(self.vocab_size, dtype=torch.long, device=fed.device).scatter_reduce(
            0, fed, order, reduce="amax", include_self=False)
        last = latest[fed] == order
        self.table[fed[last]] = top[last]

    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        B = tokens.shape[0]
        current = tokens[:, -1].clamp(min=0).to(self.table.device)
        drafted = torch.zeros(B, k, dtype=torch.long, device=self.table.device)
        lengths = torch.zeros(B, dtype=torch.long, device=self.table.device)
        going = torch.ones(B, dtype=torch.bool, device=self.table.device)
        for j in range(k):
            following = self.table[current, 0]
            going = going & (following >= 0)
            if not bool(going.any()):
                break
            current = torch.where(going, following, 0)
            drafted[:, j] = current
            lengths += going.long()
        return Draft(tokens=drafted.to(tokens.device), lengths=lengths.to(tokens.device))
