"""Exact speculative sampling: lossless. Registered as ``core/exact`` (the default rule).

The rejection rule of Leviathan et al. (2023) and Chen et al. (2023). Draft
token ``d`` at position ``i``, drawn by the drafter from ``p_i``, is kept with
probability ``min(1, q_i(d) / p_i(d))`` where ``q_i`` is the target's
distribution there (after the sampler's processing and the constraint). At the
first rejection the target's token is drawn from the residual
``max(0, q_i - p_i)`` renormalised; when every draft token is kept it is drawn
from ``q`` one past the last. Emitted tokens are then distributed exactly as if
the target had generated them one by one. A drafter without probabilities is
deterministic (``p_i`` one-hot on ``d``): ``d`` is kept with probability
``q_i(d)``; under a deterministic (greedy) sampler that is "keep while the
draft equals the argmax".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import GenerationError
from ..types import Draft
from ._common import at, draft_lengths, draw, kept_prefix, walk_tree

__all__ = ["ExactAcceptance"]


class ExactAcceptance:
    """Lossless rejection sampling of drafts against the target's distribution."""

    lossless = True

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    def accept(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, q = draft.tokens, target_probs.float()
        B, k = tokens.shape
        lengths = draft_lengths(draft)
        if k == 0:
            return lengths, draw(q[:, 0], generator)
        q_d = q[:, :k].gather(-1, tokens[..., None])[..., 0]  # target's probability of each draft token
        p = None if draft.probs is None else draft.probs.float()
        p_d = torch.ones_like(q_d) if p is None else p.gather(-1, tokens[..., None])[..., 0]
        u = torch.rand(B, k, generator=generator, device=q.device)
        accepted = kept_prefix(u * p_d < q_d, lengths)  # u < q/p, without dividing by p = 0

        # The target's token: from the residual where a real draft token was turned down, else from q.
        after = at(q, accepted)
        rejected = accepted < lengths
        if bool(rejected.any()):
            j = accepted.clamp(max=k - 1)
            p_j = F.one_hot(at(tokens, j), q.shape[-1]).float() if p is None else at(p, j)
            residual = (after - p_j).clamp(min=0)
            total = residual.sum(-1, keepdim=True)
            residual = torch.where(total > 0, residual / total.clamp(min=1e-30), after)
            after = torch.where(rejected[:, None], residual, after)
        return accepted, draw(after, generator)

    def accept_tree(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[list[list[int]], torch.Tensor]:
        """A tree of deterministic drafts: draw the target's token at the root, move to the child
        carrying it, draw again there, and so on; stop where no child matches. Each token is a draw
        from the target's distribution given the path so far, so the rule stays lossless."""
        if draft.probs is not None:
            raise GenerationError("core/exact keeps tree drafts only when they are deterministic (no probs): "
                                  "a sampled tree needs multi-draft rejection, which arkit does not implement")
        q = target_probs.float()
        B, n, V = q.shape
        choice = torch.multinomial(q.reshape(B * n, V), 1, generator=generator).view(B, n)
        return walk_tree(draft, choice)
