"""Token recycling (Luo et al. 2024): drafts from the target's recent predictions. Registered as ``core/token-recycling``.

Training-free. Every verification pass makes the target predict a distribution
after each token it was fed; the top ``m`` candidates are usually thrown away.
Token recycling keeps them in an adjacency table ``[V, m]``: row ``t`` holds the
``m`` most likely successors of token ``t`` the last time the target saw ``t``
(best first; ``-1`` where nothing is known yet). By default a draft is a chain:
from the pending token follow the best known successor, ``k`` times, stopping at
an unknown entry. With ``tree_width = w > 1`` it is a tree, as in the paper: each
node's children are its token's top ``w`` known successors, and the ``k`` nodes
whose paths rank best (the sum of the successors' ranks) are kept, best first.
The table is updated after every pass (:meth:`observe`) from all positions the
target scored, accepted or not, and it persists across generations: it is a
buffer of this ``nn.Module``, so it is saved and loaded with the pipeline. Pays
off on repetitive output and after a warm-up on similar text; costs a table
lookup per draft token.
"""

from __future__ import annotations

from collections.abc import Mapping
import heapq
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

    def __init__(self, *, vocab_size: int = 512, m: int = 8, tree_width: int = 1) -> None:
        super().__init__()
        for key, value in (("vocab_size", vocab_size), ("m", m), ("tree_width", tree_width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"token recycling {key} must be a positive integer, got {value!r}")
        if m > vocab_size:
            raise ConfigError(f"token recycling m ({m}) cannot exceed vocab_size ({vocab_size})")
        if tree_width > m:
            raise ConfigError(f"token recycling tree_width ({tree_width}) cannot exceed m ({m})")
        self.vocab_size, self.m, self.tree_width = vocab_size, m, tree_width
        self.register_buffer("table", torch.full((vocab_size, m), -1, dtype=torch.long))

    @property
    def config(self) -> Mapping[str, Any]:
        return {"vocab_size": self.vocab_size, "m": self.m, "tree_width": self.tree_width}

    @property
    def tree_drafts(self) -> bool:
        """Whether :meth:`propose` returns trees (``tree_width > 1``)."""
        return self.tree_width > 1

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
        if self.tree_width > 1:
            return self._tree(tokens, k)
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

    def _tree(self, tokens: torch.Tensor, k: int) -> Draft:
        """Best-first over paths of known successors: a path's cost is the sum of its ranks."""
        B, w = tokens.shape[0], self.tree_width
        table = self.table[:, :w].tolist() if self.vocab_size * w <= 1 << 16 else None
        drafted = torch.zeros(B, k, dtype=torch.long)
        parents = torch.full((B, k), -1, dtype=torch.long)
        lengths = torch.zeros(B, dtype=torch.long)
        for row, last in enumerate(tokens[:, -1].clamp(min=0).tolist()):
            def successors(token: int) -> list[int]:
                return table[token] if table is not None else self.table[token, :w].tolist()

            frontier = [(rank, rank, -1, t) for rank, t in enumerate(successors(last)) if t >= 0]
            heapq.heapify(frontier)  # (cost, tie-break, parent node, token)
            node = 0
            while frontier and node < k:
                cost, _, parent, token = heapq.heappop(frontier)
                drafted[row, node], parents[row, node] = token, parent
                for rank, t in enumerate(successors(token)):
                    if t >= 0:
                        heapq.heappush(frontier, (cost + rank, node * w + rank, node, t))
                node += 1
            lengths[row] = node
        device = tokens.device
        return Draft(tokens=drafted.to(device), parents=parents.to(device), lengths=lengths.to(device))
