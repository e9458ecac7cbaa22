"""What the acceptance rules share: reading a draft, and drawing the target's own token."""

from __future__ import annotations

import torch

from ..types import Draft
from .trees import tree_ancestors, tree_depths

__all__ = ["at", "draft_lengths", "draw", "kept_prefix", "tree_ancestors", "tree_depths", "walk_tree"]


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


def walk_tree(draft: Draft, choice: torch.Tensor) -> tuple[list[list[int]], torch.Tensor]:
    """Follow each row's tree from the root while a child carries the token ``choice`` picks there.

    ``choice [B, k + 1]`` is the target's token at every position (root first). Returns each
    row's kept path (node indices, root to leaf) and the target's token after it.
    """
    tokens, parents = draft.tokens.tolist(), draft.parents.tolist()
    lengths, chosen = draft_lengths(draft).tolist(), choice.tolist()
    paths, after = [], []
    for row in range(len(tokens)):
        children: dict[tuple[int, int], int] = {}
        for i in range(lengths[row]):  # the first child with a token wins; duplicates never win
            children.setdefault((parents[row][i], tokens[row][i]), i)
        path, at_node = [], -1
        while (at_node, chosen[row][at_node + 1]) in children:
            at_node = children[(at_node, chosen[row][at_node + 1])]
            path.append(at_node)
        paths.append(path)
        after.append(chosen[row][at_node + 1])
    return paths, torch.tensor(after, dtype=torch.long, device=choice.device)
