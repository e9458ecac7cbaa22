"""Typical acceptance (Medusa, Cai et al. 2024): lossy, opt-in. Registered as ``core/typical-acceptance``.

A draft token ``d`` at position ``i`` is kept when the target finds it typical
enough: ``q_i(d) > min(posterior_threshold, posterior_alpha * exp(-H(q_i)))``,
with ``H`` the entropy of the target's distribution there. Confident
positions demand the likely token; uncertain ones accept any plausible token,
so more of the draft survives than under exact sampling at high temperature.
The output distribution is not the target's (``lossless`` is false). The
target's own token is drawn from ``q`` one past the last kept token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from ..types import Draft
from ._common import at, draft_lengths, draw, kept_prefix, walk_tree

__all__ = ["TypicalAcceptance"]


class TypicalAcceptance:
    """Keep draft tokens whose target probability beats an entropy-dependent threshold."""

    lossless = False

    def __init__(self, *, posterior_threshold: float = 0.09, posterior_alpha: float = 0.3) -> None:
        for name, value in (("posterior_threshold", posterior_threshold), ("posterior_alpha", posterior_alpha)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise ConfigError(f"typical acceptance {name} must be a number in (0, 1], got {value!r}")
        self.posterior_threshold, self.posterior_alpha = float(posterior_threshold), float(posterior_alpha)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"posterior_threshold": self.posterior_threshold, "posterior_alpha": self.posterior_alpha}

    def accept(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, q = draft.tokens, target_probs.float()
        k = tokens.shape[1]
        q_k = q[:, :k]
        entropy = -(q_k * q_k.clamp(min=1e-30).log()).sum(-1)
        threshold = torch.minimum(torch.full_like(entropy, self.posterior_threshold),
                                  self.posterior_alpha * torch.exp(-entropy))
        q_d = q_k.gather(-1, tokens[..., None])[..., 0]
        accepted = kept_prefix(q_d > threshold, draft_lengths(draft))
        return accepted, draw(at(q, accepted), generator)

    def accept_tree(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[list[list[int]], torch.Tensor]:
        """At each node move to the typical child the target likes best (Medusa's tree rule); the
        target's token is drawn after the path."""
        q = target_probs.float()
        B, n, _ = q.shape
        entropy = -(q * q.clamp(min=1e-30).log()).sum(-1)  # [B, n]
        threshold = torch.minimum(torch.full_like(entropy, self.posterior_threshold),
                                  self.posterior_alpha * torch.exp(-entropy))
        parent_at = draft.parents + 1  # the position each node continues
        q_node = q.gather(1, parent_at[..., None].expand(-1, -1, q.shape[-1])).gather(-1, draft.tokens[..., None])[..., 0]
        typical = q_node > threshold.gather(1, parent_at)
        lengths = draft_lengths(draft).tolist()
        choice = torch.full((B, n), -1, dtype=torch.long, device=q.device)  # -1: no child qualifies
        best = torch.zeros(B, n, device=q.device)
        for row in range(B):
            for node in range(lengths[row]):
                pos = int(parent_at[row, node])
                if bool(typical[row, node]) and float(q_node[row, node]) > float(best[row, pos]):
                    best[row, pos], choice[row, pos] = q_node[row, node], draft.tokens[row, node]
        paths, _ = walk_tree(draft, choice)
        last = torch.tensor([1 + p[-1] if p else 0 for p in paths], device=q.device)
        return paths, draw(at(q, last), generator)
