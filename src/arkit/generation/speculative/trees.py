"""The shape of a draft: chains and trees, their paths, and how a pass's tokens see each other.

A chain's node ``i`` continues node ``i - 1``; a tree's node ``i`` continues
``parents[b, i]`` (``-1``: the row's pending token, the root). Nodes are listed
parents first. In the verification pass position 0 holds the pending token and
position ``i + 1`` node ``i``; each node sits one position past its parent and
attends to the cache, its ancestors and itself.
"""

from __future__ import annotations

from collections.abc import Sequence
import functools

import torch

from ...acceptance.trees import tree_ancestors, tree_depths
from ...types import Draft
from ..batch import compact, twin

__all__ = ["draft_attention", "node_contexts", "node_depths", "path", "proposals", "row_lengths", "row_reaches"]


def path(parents: list[int], node: int) -> list[int]:
    """Nodes from the root's first child down to ``node`` (``[]`` for the root, ``node = -1``)."""
    nodes = []
    while node >= 0:
        nodes.append(node)
        node = parents[node]
    return nodes[::-1]


def row_lengths(draft: Draft) -> list[int]:
    """Draft tokens proposed for each row: all ``k``, or the rows' ``Draft.lengths``."""
    B, k = draft.tokens.shape
    return [k] * B if draft.lengths is None else draft.lengths.tolist()


def row_reaches(draft: Draft, lengths: list[int]) -> list[int]:
    """How many tokens each row's draft (of ``lengths`` tokens, :func:`row_lengths`) could add: its length for a
    chain, the depth of its deepest node for a tree."""
    if draft.parents is None or not any(lengths):
        return lengths
    parents = draft.parents.tolist()
    return [max((len(path(parents[r][:n], node)) for node in range(n)), default=0) for r, n in enumerate(lengths)]


def proposals(draft: Draft, live: Sequence[bool]) -> tuple[int, list[int]]:
    """Draft tokens proposed to the ``live`` rows, and how many tokens each row's draft could add (0 where not live)."""
    if draft.tokens.shape[1] == 0:  # a plain step's
        return 0, [0] * len(live)
    lengths = row_lengths(draft)
    reaches = row_reaches(draft, lengths)
    return (sum(n for n, alive in zip(lengths, live) if alive),
            [reach if alive else 0 for reach, alive in zip(reaches, live)])


def node_contexts(prefix: torch.Tensor, draft: Draft, n: int) -> torch.Tensor:
    """``LongTensor[B, n, T + n - 1]``: for each of the pass's ``n`` positions, every row's tokens before it:
    ``prefix`` (``[B, T]``, the context and the pending token), then the draft's tokens on the way there.
    Rows are right-aligned, ``-1`` before."""
    B, T = prefix.shape
    if draft.parents is None:  # a chain: position i follows the first i draft tokens, a window of one row
        row = torch.cat([prefix.new_full((B, n - 1), -1), prefix, draft.tokens[:, : n - 1]], 1)
        return row.unfold(1, T + n - 1, 1)
    tokens, parents = draft.tokens.tolist(), draft.parents.tolist()
    out = []
    for i in range(n):
        rows = [[tokens[r][j] for j in path(parents[r], i - 1)] for r in range(len(tokens))]
        padded = prefix.new_tensor([[-1] * (n - 1 - len(p)) + p for p in rows]).view(len(rows), n - 1)
        out.append(compact(torch.cat([prefix, padded], 1), True))
    return torch.stack(out, 1)


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
        return _chain_attention(2 * B if guided else B, k, draft.tokens.device)
    return twin(tree_depths(draft.parents), guided), twin(tree_ancestors(draft.parents), guided)


@functools.lru_cache(maxsize=64)
def _chain_attention(R: int, k: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`draft_attention` of a chain: the same for every pass of a width, so made once (read-only views)."""
    depth = torch.arange(k + 1, device=device).expand(R, k + 1)
    seen = torch.ones(k + 1, k + 1, dtype=torch.bool, device=device).tril().expand(R, k + 1, k + 1)
    return depth, seen
