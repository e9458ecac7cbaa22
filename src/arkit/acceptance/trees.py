"""Tree drafts seen from the verification pass: each node's depth and which positions it may attend to.

Position 0 of a pass is the row's pending token (the root); node ``i`` of the
draft sits at position ``i + 1``, one past its parent (``Draft.parents``).
Speculative decoding builds the pass's positions and tree attention mask from these.
"""

from __future__ import annotations

import torch

__all__ = ["tree_ancestors", "tree_depths"]


def tree_depths(parents: torch.Tensor) -> torch.Tensor:
    """``LongTensor[B, k + 1]``: depth of the root (0) and of every node of a tree draft."""
    B, k = parents.shape
    depth = parents.new_zeros(B, k + 1)
    for i in range(k):  # parents come before their children
        depth[:, i + 1] = depth.gather(1, (parents[:, i : i + 1] + 1).clamp(min=0))[:, 0] + 1
    return depth


def tree_ancestors(parents: torch.Tensor) -> torch.Tensor:
    """``BoolTensor[B, k + 1, k + 1]``: position ``i`` (root 0, node ``j`` at ``j + 1``) may see ``j``: its ancestors and itself."""
    B, k = parents.shape
    seen = torch.eye(k + 1, dtype=torch.bool, device=parents.device).repeat(B, 1, 1)
    rows = torch.arange(B, device=parents.device)
    for i in range(k):
        seen[:, i + 1] |= seen[rows, parents[:, i] + 1]
    return seen
