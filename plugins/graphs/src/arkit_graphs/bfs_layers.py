"""``graphs/bfs-layers``: trees as BFS layers, generated a whole layer per model call (Pard's idea).

Pard (Zhao et al., NeurIPS 2024) splits a graph's nodes into blocks by a structural
partial order and generates one block per step. Here the order is the BFS depth from the
root: a tree is the number of children of every node, in BFS order (its Galton-Watson
code), and **block k holds the child counts of every node at depth k**. The inputs of
block ``k`` follow from block ``k-1`` alone (one position per child of each node there),
so the model emits a whole layer per call through :func:`arkit.generate_blocks`, and any
sequence of counts decodes to a tree: validity holds by construction.

Tokens: ``0`` pad, ``1`` bos, ``2`` eos, then one *size* token per node count
``1 .. max_nodes`` (the prompt: how many nodes to aim for, drawn from the training sizes
as GRAN does), then the counts ``0 .. max_children``. ``encode(tree)`` gives the size
token followed by the counts; ``encode(n)`` (an int) gives the prompt alone.
Lossless up to isomorphism for trees (see :class:`Graph`); other graphs are refused.

The positions of one block are drawn independently given everything before the block
(as in every one-call block); the layers before it are what they condition on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

import arkit
from arkit import ConfigError, InputError

from ._order import bfs_order
from .graph import Graph, as_graph

__all__ = ["BfsLayersTokenizer", "LayerSchedule"]

PAD, BOS, EOS = 0, 1, 2
_FIRST = 3


class BfsLayersTokenizer:
    """Trees as per-node child counts in BFS order, prompted by a size token; blocks are BFS layers.

    ``max_nodes`` / ``max_children``: the largest tree and the most children of one node
    (defaults 20 and 8; learned by :meth:`fit` when ``None``); ``vocab_size``: an optional fixed capacity.
    """

    lossless = True

    def __init__(self, *, max_nodes: int | None = 20, max_children: int | None = 8,
                 vocab_size: int | None = None) -> None:
        for name, value in (("max_nodes", max_nodes), ("max_children", max_children)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be an int >= 1 (or None to learn it), got {value!r}")
        if (max_nodes is None or max_children is None) and vocab_size is None:
            raise ConfigError("give max_nodes and max_children, or vocab_size (a capacity) and call fit(trees)")
        self.max_nodes, self.max_children, self._capacity = max_nodes, max_children, vocab_size
        if vocab_size is not None and self.fitted and vocab_size < self._used:
            raise ConfigError(f"vocab_size {vocab_size} is smaller than the {self._used} ids this tokenizer uses")
        self.special_tokens: Mapping[str, int] = {"pad": PAD, "bos": BOS, "eos": EOS}

    @property
    def fitted(self) -> bool:
        return self.max_nodes is not None and self.max_children is not None

    @property
    def _used(self) -> int:
        return _FIRST + (self.max_nodes or 0) + (self.max_children or 0) + 1

    @property
    def vocab_size(self) -> int:
        return self._capacity if self._capacity is not None else self._used

    @property
    def config(self) -> dict[str, Any]:
        return {"max_nodes": self.max_nodes, "max_children": self.max_children, "vocab_size": self._capacity}

    def size_id(self, n: int) -> int:
        return _FIRST + n - 1

    def count_id(self, c: int) -> int:
        return _FIRST + (self.max_nodes or 0) + c

    def count_of(self, token: int) -> int | None:
        """The child count a token stands for (``None`` for other ids)."""
        c = int(token) - _FIRST - (self.max_nodes or 0)
        return c if 0 <= c <= (self.max_children or 0) else None

    def fit(self, items: Iterable[Any]) -> BfsLayersTokenizer:
        """Learn ``max_nodes`` and ``max_children`` from trees; refuse anything else by index."""
        trees = [as_graph(item, what=f"graph {index}") for index, item in enumerate(items)]
        if not trees:
            raise InputError("fit got no graphs")
        for index, tree in enumerate(trees):
            _check_tree(tree, f"graph {index}")
        if self.max_nodes is None:
            self.max_nodes = max(t.n for t in trees)
        if self.max_children is None:
            self.max_children = max(max(_counts(t)) for t in trees)
        if self._capacity is not None and self._capacity < self._used:
            raise ConfigError(f"the data needs {self._used} ids but vocab_size is {self._capacity}")
        for index, tree in enumerate(trees):
            self._encode_tree(tree, f"graph {index}")
        return self

    def encode(self, item: Any) -> list[int]:
        if isinstance(item, int) and not isinstance(item, bool):
            if not self.fitted or not 1 <= item <= self.max_nodes:  # type: ignore[operator]
                raise InputError(f"a size prompt must be a node count in [1, {self.max_nodes}], got {item}")
            return [self.size_id(item)]
        return self._encode_tree(as_graph(item), "the graph")

    def _encode_tree(self, tree: Graph, what: str) -> list[int]:
        if not self.fitted:
            raise ConfigError("the tokenizer has no max_nodes / max_children yet: call fit(trees) first")
        _check_tree(tree, what)
        if tree.n > self.max_nodes:  # type: ignore[operator]
            raise InputError(f"{what} has {tree.n} nodes, more than the tokenizer's max_nodes {self.max_nodes}")
        counts = _counts(tree)
        if max(counts) > self.max_children:  # type: ignore[operator]
            raise InputError(f"{what} has a node with {max(counts)} children, more than max_children "
                             f"{self.max_children}")
        return [self.size_id(tree.n)] + [self.count_id(c) for c in counts]

    def blocks(self, tree: Any) -> list[list[int]]:
        """The tree's count tokens split into BFS layers (block ``k``: the nodes at depth ``k``)."""
        ids = self.encode(tree)[1:]
        out, start, width = [], 0, 1
        while start < len(ids):
            layer = ids[start:start + width]
            out.append(layer)
            start += width
            width = sum(self.count_of(t) or 0 for t in layer)
        return out

    def training_item(self, tree: Any) -> tuple[int, list[list[int]]]:
        """``(size prompt, blocks)``: an item for ``Pipeline.fit(..., schedule=LayerSchedule())``."""
        graph = as_graph(tree)
        return graph.n, self.blocks(graph)

    def decode(self, ids: Sequence[int]) -> Graph:
        """The tree the counts describe: nodes whose counts are missing are leaves, extra counts are ignored."""
        counts = [c for t in ids if (c := self.count_of(t)) is not None]
        edges, frontier, n, read = [], [0], 1, 0
        while frontier and read < len(counts):
            parent = frontier.pop(0)
            for _ in range(counts[read]):
                edges.append((parent, n))
                frontier.append(n)
                n += 1
            read += 1
        return Graph(n, edges)

    def parse(self, ids: Sequence[int], *, strict: bool = True) -> Graph:
        """Like :meth:`decode`; with ``strict``, counts must describe exactly one finished tree."""
        counts = [c for t in ids if (c := self.count_of(t)) is not None]
        if strict:
            open_nodes = 1
            for i, c in enumerate(counts):
                if open_nodes == 0:
                    raise InputError(f"count {i}: the tree was already finished")
                open_nodes += c - 1
            if open_nodes != 0:
                raise InputError(f"the counts leave {open_nodes} nodes without a count")
        return self.decode(ids)


class LayerSchedule(arkit.BlockSchedule):
    """Block ``k`` = the child counts of the nodes at depth ``k``; its inputs are their parents' count tokens.

    Block 0 (the root's count) is predicted at the prompt (``bos``, size); block ``k``
    has one input per child announced in block ``k-1`` (the parent's count token, so a
    position knows how many siblings it has); a layer of zeros ends the row.
    """

    def __init__(self, tokenizer: BfsLayersTokenizer) -> None:
        self.tokenizer = tokenizer

    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        if k == 0:
            return []
        inputs = [int(t) for t in blocks[k - 1] for _ in range(self.tokenizer.count_of(t) or 0)]
        return inputs or None

    def allowed(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]], n: int) -> torch.Tensor:
        """Only count tokens, and at most ``room // n`` per position, ``room`` being the nodes ``max_nodes``
        still allows: the positions are drawn independently, so an even share is what bounds their sum."""
        tok = self.tokenizer
        mask = torch.zeros(n, tok.vocab_size, dtype=torch.bool)
        so_far = 1 + sum(tok.count_of(t) or 0 for block in blocks for t in block)
        room = max(0, min(tok.max_children or 0, ((tok.max_nodes or 0) - so_far) // max(n, 1)))
        mask[:, tok.count_id(0):tok.count_id(room) + 1] = True
        return mask


def _counts(tree: Graph) -> list[int]:
    order = bfs_order(tree)
    depth_seen = {order[0]}
    counts = []
    for v in order:
        children = [w for w in tree.neighbours[v] if w not in depth_seen]
        depth_seen.update(children)
        counts.append(len(children))
    return counts


def _check_tree(graph: Graph, what: str) -> None:
    if graph.n == 0:
        raise InputError(f"{what} is empty (no nodes): there is nothing to encode")
    if not graph.is_tree():
        reason = "disconnected" if not graph.is_connected() else "has a cycle"
        raise InputError(f"{what} is not a tree ({reason}): graphs/bfs-layers encodes trees only")
