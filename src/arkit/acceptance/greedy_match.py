"""Greedy match: keep draft tokens while they equal the target's most likely token. ``core/greedy-match``.

The rule of prompt-lookup and assisted decoding in transformers. Under a
deterministic (greedy) sampler it is lossless and equals ``core/exact``; under
a sampling target it is lossy (a draft token is kept only if it is the mode),
which is why ``lossless`` is false. The target's own token is drawn from its
distribution one past the last kept draft token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..types import Draft
from ._common import at, draft_lengths, draw, kept_prefix, walk_tree

__all__ = ["GreedyMatch"]


class GreedyMatch:
    """Keep the longest draft prefix that agrees with the target's argmax."""

    lossless = False

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    def accept(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, q = draft.tokens, target_probs.float()
        k = tokens.shape[1]
        accepted = kept_prefix(tokens == q[:, :k].argmax(-1), draft_lengths(draft))
        return accepted, draw(at(q, accepted), generator)

    def accept_tree(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[list[list[int]], torch.Tensor]:
        """Follow the children that equal the target's argmax; the target's token is drawn after the path."""
        q = target_probs.float()
        paths, _ = walk_tree(draft, q.argmax(-1))
        last = torch.tensor([1 + p[-1] if p else 0 for p in paths], device=q.device)
        return paths, draw(at(q, last), generator)
