"""Medusa heads (Cai et al. 2024, Medusa-1): extra heads on the target's last hidden state. Registered as ``core/medusa``.

The target's own head reads the final hidden state ``h`` at a position and
predicts the next token (the *pending* token of the speculative loop). Medusa
head ``i`` (``i = 1..num_heads``) reads the same ``h`` and predicts the token
``i`` places after that one::

    head_i(h) = W_out_i (h + SiLU(W_i h + b_i))      # one residual block, then a vocabulary projection

So one target pass gives, for free, a guess of the next ``num_heads`` tokens
after the pending one. The drafter keeps, per row, the hidden state at the last
position the target verified (:meth:`observe`) and proposes head ``i``'s top-1
token as draft ``i`` (a chain, no tree). The draft is deterministic (no
``Draft.probs``), so ``core/exact`` stays lossless under any sampler.

The heads are trained on the frozen target with
:func:`arkit.training.medusa.train_medusa` (self-distillation). Built with
:meth:`MedusaHeads.for_pipeline`, every head starts as the target's head (the
residual block is zero, so ``head_i(h) = W_out h``): a sensible, if poor, start.
The heads are an ``nn.Module``: their weights save and load with the pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
import heapq
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
import torch.nn.functional as F

from .._layout import column_major_linears
from ..errors import ConfigError
from ..types import Draft, Verification

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["MedusaHeads"]


class MedusaHead(nn.Module):
    """One head: ``proj(h + SiLU(block(h)))``."""

    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.block = nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.proj(hidden + F.silu(self.block(hidden)))


class MedusaHeads(nn.Module):
    """``num_heads`` heads guessing the tokens 2, 3, ... places after each verified position."""

    def __init__(self, *, d_model: int = 256, vocab_size: int = 512, num_heads: int = 4, init_std: float = 0.02,
                 tree_width: int = 1) -> None:
        super().__init__()
        for key, value in (("d_model", d_model), ("vocab_size", vocab_size), ("num_heads", num_heads),
                           ("tree_width", tree_width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"medusa {key} must be a positive integer, got {value!r}")
        if isinstance(init_std, bool) or not isinstance(init_std, (int, float)) or not init_std > 0:
            raise ConfigError(f"medusa init_std must be a positive number, got {init_std!r}")
        self.d_model, self.vocab_size, self.num_heads, self.tree_width = d_model, vocab_size, num_heads, tree_width
        self._config = dict(d_model=d_model, vocab_size=vocab_size, num_heads=num_heads, init_std=float(init_std),
                            tree_width=tree_width)
        self.heads = nn.ModuleList(MedusaHead(d_model, vocab_size) for _ in range(num_heads))
        for head in self.heads:
            nn.init.zeros_(head.block.weight)  # the residual block starts as the identity (Medusa-1)
            nn.init.zeros_(head.block.bias)
            nn.init.normal_(head.proj.weight, std=init_std)
        column_major_linears(self)
        self._hidden: torch.Tensor | None = None  # [B, D]: each row's hidden state at its last verified position

    @property
    def tree_drafts(self) -> bool:
        """Whether :meth:`propose` returns trees (``tree_width > 1``)."""
        return self.tree_width > 1

    @classmethod
    def for_pipeline(cls, pipe: Pipeline, num_heads: int = 4, tree_width: int = 1) -> MedusaHeads:
        """Heads sized for ``pipe``, each starting as a copy of its head's projection (when it has a ``proj``)."""
        heads = cls(d_model=pipe.backbone.d_model, vocab_size=pipe.tokenizer.vocab_size, num_heads=num_heads,
                    tree_width=tree_width)
        proj = dict(pipe.head.named_modules()).get("proj") if isinstance(pipe.head, nn.Module) else None
        base = proj.weight if isinstance(proj, nn.Linear) else None
        if base is not None and tuple(base.shape) == (heads.vocab_size, heads.d_model):
            with torch.no_grad():
                for head in heads.heads:
                    head.proj.weight.copy_(base)
        return heads.to(next(pipe.backbone.parameters()).device)

    @property
    def config(self) -> Mapping[str, Any]:
        return dict(self._config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``[..., D] -> [..., num_heads, V]``: every head's logits."""
        return torch.stack([head(hidden) for head in self.heads], -2)

    # -- the drafter protocol ----------------------------------------------------------
    def start(self, pipe: Pipeline, batch_size: int) -> None:
        if pipe.backbone.d_model != self.d_model:
            raise ConfigError(f"medusa heads are {self.d_model} wide but the target's hidden states are "
                              f"{pipe.backbone.d_model}: build them with MedusaHeads.for_pipeline(pipe)")
        self._hidden = None

    def observe(self, verification: Verification) -> None:
        hidden = verification.hidden
        last = verification.accepted if verification.last_kept is None else verification.last_kept
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        self._hidden = hidden[rows, last.to(hidden.device)].detach()  # where the new pending token was predicted

    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        B = tokens.shape[0]
        drafted = torch.zeros(B, k, dtype=torch.long, device=tokens.device)
        n = min(k, self.num_heads)
        if self._hidden is None or self._hidden.shape[0] != B:  # nothing observed yet: propose nothing
            return Draft(tokens=drafted, lengths=torch.zeros(B, dtype=torch.long, device=tokens.device))
        weight = self.heads[0].proj.weight
        hidden = self._hidden.to(device=weight.device, dtype=weight.dtype)
        if self.tree_width > 1:
            return self._tree(hidden, k, tokens.device)
        guesses = torch.stack([self.heads[i](hidden).argmax(-1) for i in range(n)], 1)  # [B, n]
        drafted[:, :n] = guesses.to(tokens.device)
        return Draft(tokens=drafted, lengths=torch.full((B,), n, dtype=torch.long, device=tokens.device))

    def _tree(self, hidden: torch.Tensor, k: int, device: torch.device) -> Draft:
        """The ``k`` most probable paths' nodes, best first: head ``d``'s top ``tree_width`` tokens at depth ``d + 1``.

        A node's score is the product of its path's head probabilities (the heads do not see the
        path, so every node at one depth offers the same candidates). Best-first order puts each
        parent before its children, as a tree draft needs.
        """
        B, w = hidden.shape[0], self.tree_width
        top = [self.heads[d](hidden).float().log_softmax(-1).topk(w, dim=-1) for d in range(self.num_heads)]
        logp = torch.stack([t.values for t in top], 1).tolist()  # [B, heads, w]
        ids = torch.stack([t.indices for t in top], 1).tolist()
        tokens = torch.zeros(B, k, dtype=torch.long)
        parents = torch.full((B, k), -1, dtype=torch.long)
        lengths = torch.zeros(B, dtype=torch.long)
        for row in range(B):
            frontier = [(-logp[row][0][c], 0, -1, c) for c in range(w)]  # (-score, depth, parent node, candidate)
            heapq.heapify(frontier)
            node = 0
            while frontier and node < k:  # a small tree (few heads) may hold fewer than k nodes
                score, depth, parent, c = heapq.heappop(frontier)
                tokens[row, node], parents[row, node] = ids[row][depth][c], parent
                if depth + 1 < self.num_heads:
                    for child in range(w):
                        heapq.heappush(frontier, (score - logp[row][depth + 1][child], depth + 1, node, child))
                node += 1
            lengths[row] = node
        return Draft(tokens=tokens.to(device), parents=parents.to(device), lengths=lengths.to(device))
