"""The shape of a draft: chains and trees, their paths, and how a pass's tokens see each other.

A chain's node ``i`` continues node ``i - 1``; a tree's node ``i`` continues
``parents[b, i]`` (``-1``: the row's pending token, the root). Nodes are listed
parents first. In the verification pass position 0 holds the pending token and
position ``i + 1`` node ``i``; each node sits one position past its parent and
attends to the cache, its ancestors and itself.
"""

from __future__ import annotations

import torch

from ...acceptance.trees import tree_ancestors, tree_depths
from ...types import Draft
from ..batch import compact, twin

__all__ = ["draft_attention", "node_contexts", "node_depths", "path", "row_length", "row_reach"]


def path(parents: list[int], node: int) -> list[int]:
    """Nodes from the root's first child down to ``node`` (``[]`` for the root, ``node = -1``)."""
    nodes = []
    while node >= 0:
        nodes.append(node)
        node = parents[node]
    return nodes[::-1]


def row_length(draft: Draft, row: int) -> int:
    """Draft tokens proposed for ``row``: all ``k``, or the row's ``Draft.lengths``."""
    return draft.tokens.shape[1] if draft.lengths is None else int(draft.lengths[row])


def row_reach(draft: Draft, row: int) -> int:
    """How many tokens the row's draft could add: its length for a chain, the depth of its deepest node for a tree."""
    n = row_length(draft, row)
    if draft.parents is None or n == 0:
        return n
    parents = draft.parents[row, :n].tolist()
    return max(len(path(parents, node)) for node in range(n))


def node_contexts(prefix: torch.Tensor, draft: Draft, n: int) -> list[torch.Tensor]:
    """For each of the pass's ``n`` positions, every row's tokens before it: ``prefix`` (the context and the
    pending token), then the draft's tokens on the way there. Rows are right-aligned, ``-1`` before."""
    if draft.parents is None:  # a chain: position i follows the first i draft tokens
        return [torch.cat([prefix, draft.tokens[:, :i]], 1) for i in range(n)]
    tokens, parents = draft.tokens.tolist(), draft.parents.tolist()
    out = []
    for i in range(n):
        rows = [[tokens[r][j] for j in path(parents[r], i - 1)] for r in range(len(tokens))]
        width = max(map(len, rows))
        padded = prefix.new_tensor([[-1] * (width - len(p)) + p for p in rows]).view(len(rows), width)
        out.append(compact(torch.cat([prefix, padded], 1), True))
    return out


def node_depths(draft: Draft, n: int) -> list[list[int]] | list[int]:
    """How many draft tokens precede each position's prediction: ``i`` for a chain (one per position),
    the depth of node ``i - 1`` per row for a tree."""
    if draft.parents is None:
        return list(range(n))
    parents = draft.parents.tolist()
    return [[len(path(p, i - 1)) for p in parents] for i in range(n)]


def draft_attention(draft: Draft, guided: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``(depth, seen)`` for a pass over ``[pending, draft...]`` on every row (guidance twins included):
    each position's offset past the pending token's (``LongTensor[R, n]``) and which of the pass's
    positions it attends to (``BoolTensor[R, n, n]``). A chain is causal; a tree's node sees its
    ancestors and itself."""
    B, k = draft.tokens.shape
    if draft.parents is None:
        R, device = 2 * B if guided else B, draft.tokens.device
        depth = torch.arange(k + 1, device=device).expand(R, k + 1)
        seen = torch.ones(k + 1, k + 1, dtype=torch.bool, device=device).tril().expand(R, k + 1, k + 1)
        return depth, seen
    return twin(tree_depths(draft.parents), guided), twin(tree_ancestors(draft.parents), guided)
