"""``graphs/bfs-adjacency``: GraphRNN's BFS adjacency sequences as tokens.

Nodes are put in breadth-first order from node 0 (neighbours by index; with
``order="max-cardinality"``, in maximum-cardinality-search order instead, which keeps
dense communities contiguous: see :mod:`arkit_graphs._order`). Node ``i``
is then written as the offsets ``d = i - j`` of its earlier neighbours ``j``, in
increasing order, followed by a separator::

    node 0: SEP
    node i: [node label] d_1 [edge label] d_2 [edge label] ... SEP      (1 <= d_1 < d_2 <= bandwidth)

and the graph ends with ``eos``. BFS order guarantees every earlier neighbour lies
within the *bandwidth* ``M`` (the largest index distance between neighbours),
which the tokenizer learns from the data (:meth:`fit`) and saves in its config
(with either order, every node of a connected graph but the first has an earlier
neighbour). Only connected graphs have such a sequence: a disconnected one is refused.

Token ids: ``0`` pad, ``1`` bos, ``2`` eos, ``3`` SEP, ``4 .. 3+M`` offsets
``1 .. M``, then one id per node label and one per edge label (both optional, so
one tokenizer serves plain graphs and molecular graphs with atom and bond types).
Lossless up to isomorphism: ``decode(encode(g)) == g`` (see :class:`Graph`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from arkit import ConfigError, InputError

from ._order import ORDERS, bandwidth as _bandwidth, node_order
from ._vocabulary import BOS, EOS, PAD, SEP, GraphVocabulary
from .graph import Graph, as_graph

__all__ = ["BfsAdjacencyTokenizer", "UNLABELLED"]

_FIRST = 4
UNLABELLED = "*"  # the label decode gives a node or edge whose label token is missing


class BfsAdjacencyTokenizer(GraphVocabulary):
    """BFS order + earlier-neighbour offsets within a bandwidth (GraphRNN-style), with optional labels.

    - ``bandwidth``: the largest offset ``M`` (default 8); ``None`` until :meth:`fit` learns it.
    - ``max_nodes``: the largest graph encoded (default 16; learned by :meth:`fit` when ``None``).
    - ``node_labels`` / ``edge_labels``: label alphabets (``None``: unlabelled graphs;
      :meth:`fit` learns them from labelled data).
    - ``vocab_size``: a fixed capacity (ids past the used ones are never produced), so a
      model can be built before :meth:`fit`; ``None`` means exactly the ids used.
    - ``order``: the node order, ``"bfs"`` (default, GraphRNN's) or ``"max-cardinality"``.
    """

    def __init__(
        self,
        *,
        bandwidth: int | None = 8,
        max_nodes: int | None = 16,
        node_labels: Sequence[str] | None = None,
        edge_labels: Sequence[str] | None = None,
        vocab_size: int | None = None,
        order: str = "bfs",
    ) -> None:
        if order not in ORDERS:
            raise ConfigError(f"order must be one of {sorted(ORDERS)}, got {order!r}")
        self.order = order
        if bandwidth is not None and (not isinstance(bandwidth, int) or bandwidth < 1):
            raise ConfigError(f"bandwidth must be an int >= 1 (or None to learn it), got {bandwidth!r}")
        if bandwidth is None and vocab_size is None:
            raise ConfigError("give bandwidth, or vocab_size (a capacity) and call fit(graphs) to learn the bandwidth")
        self.bandwidth = bandwidth
        self._init_vocabulary(max_nodes, node_labels, edge_labels, vocab_size)

    # -- sizes -----------------------------------------------------------------------
    @property
    def fitted(self) -> bool:
        return self.bandwidth is not None and self.max_nodes is not None

    @property
    def _used(self) -> int:
        return _FIRST + (self.bandwidth or 0) + len(self.node_labels or ()) + len(self.edge_labels or ())

    def offset_id(self, d: int) -> int:
        """The id of offset ``d`` (neighbour ``i - d`` of node ``i``)."""
        return _FIRST + d - 1

    def node_label_id(self, label: str) -> int:
        return _FIRST + (self.bandwidth or 0) + (self.node_labels or []).index(label)

    def edge_label_id(self, label: str) -> int:
        return _FIRST + (self.bandwidth or 0) + len(self.node_labels or ()) + (self.edge_labels or []).index(label)

    @property
    def config(self) -> dict[str, Any]:
        return {"bandwidth": self.bandwidth, "max_nodes": self.max_nodes, "node_labels": self.node_labels,
                "edge_labels": self.edge_labels, "vocab_size": self._capacity, "order": self.order}

    # -- learning ----------------------------------------------------------------------
    def fit(self, items: Iterable[Any]) -> BfsAdjacencyTokenizer:
        """Learn the bandwidth, node limit and label alphabets from ``items``; refuse bad graphs by index."""
        graphs = [_checked(item, index) for index, item in enumerate(items)]
        if not graphs:
            raise InputError("fit got no graphs")
        if self.bandwidth is None:
            self.bandwidth = max(1, max(_bandwidth(g, self.order) for g in graphs))
        self._learn(graphs, f" (bandwidth {self.bandwidth})")
        return self

    # -- encoding ----------------------------------------------------------------------
    def _encode_checked(self, graph: Graph, what: str) -> list[int]:
        if not self.fitted:
            raise ConfigError("the tokenizer has no bandwidth yet: call fit(graphs) first")
        _check_simple(graph, what)
        if not graph.is_connected():
            raise InputError(f"{what} is disconnected: BFS adjacency sequences exist only for connected graphs "
                             f"(split it into components, or use graphs/edge-list)")
        assert self.max_nodes is not None and self.bandwidth is not None
        if graph.n > self.max_nodes:
            raise InputError(f"{what} has {graph.n} nodes, more than the tokenizer's max_nodes {self.max_nodes}")
        if (graph.node_labels is not None) != (self.node_labels is not None) or (
            graph.edge_labels is not None
        ) != (self.edge_labels is not None):
            raise InputError(f"{what}: its labels (node {graph.node_labels is not None}, edge "
                             f"{graph.edge_labels is not None}) do not match the tokenizer's (node "
                             f"{self.node_labels is not None}, edge {self.edge_labels is not None})")
        order = node_order(graph, self.order)
        position = {v: i for i, v in enumerate(order)}
        ids: list[int] = []
        for i, v in enumerate(order):
            if self.node_labels is not None:
                label = graph.node_labels[v]  # type: ignore[index]
                if label not in self.node_labels:
                    raise InputError(f"{what}: node label {label!r} is not in the tokenizer's {self.node_labels}")
                ids.append(self.node_label_id(label))
            for d in sorted(i - position[w] for w in graph.neighbours[v] if position[w] < i):
                if d > self.bandwidth:
                    raise InputError(f"{what} needs bandwidth {d} in {self.order} order, more than the saved bandwidth "
                                     f"{self.bandwidth}: refit the tokenizer on data that includes it")
                ids.append(self.offset_id(d))
                if self.edge_labels is not None:
                    label = graph.edge_label(v, order[i - d])
                    if label not in self.edge_labels:
                        raise InputError(f"{what}: edge label {label!r} is not in the tokenizer's {self.edge_labels}")
                    ids.append(self.edge_label_id(label))
            ids.append(SEP)
        return ids

    # -- decoding ----------------------------------------------------------------------
    def decode(self, ids: Sequence[int]) -> Graph:
        """The graph the ids describe; malformed parts (an offset past node 0, a repeated one) are skipped."""
        return self.parse(ids, strict=False)

    def parse(self, ids: Sequence[int], *, strict: bool = True) -> Graph:
        """Like :meth:`decode`; with ``strict``, raise :class:`arkit.InputError` on anything malformed."""
        M = self.bandwidth or 0
        n_node = len(self.node_labels or ())
        first_node_label = _FIRST + M
        first_edge_label = first_node_label + n_node
        node_labels: list[str] = []
        edges: dict[tuple[int, int], str] = {}
        i, open_node, last_d, last_edge = 0, False, 0, None
        node_label: str | None = None

        def bad(message: str) -> None:
            if strict:
                raise InputError(f"token {position}: {message}")

        def close() -> None:
            nonlocal i, open_node, last_d, last_edge, node_label
            node_labels.append(node_label if node_label is not None else UNLABELLED)
            i, open_node, last_d, last_edge, node_label = i + 1, False, 0, None, None

        for position, raw in enumerate(ids):
            t = int(raw)
            if t in (PAD, BOS, EOS):  # special ids are skipped wherever they are
                continue
            if t == SEP:
                close()
            elif _FIRST <= t < _FIRST + M:
                d = t - _FIRST + 1
                open_node = True
                if d > i:
                    bad(f"offset {d} at node {i} points before node 0")
                elif d <= last_d:
                    bad(f"offset {d} after {last_d} at node {i}: offsets must increase")
                else:
                    last_d = d
                    last_edge = (i - d, i)
                    edges[last_edge] = UNLABELLED
                    continue
                last_edge = None
            elif first_node_label <= t < first_edge_label:
                if open_node or node_label is not None:
                    bad(f"a node label inside node {i}")
                else:
                    node_label = self.node_labels[t - first_node_label]  # type: ignore[index]
                open_node = True
            elif first_edge_label <= t < first_edge_label + len(self.edge_labels or ()):
                if last_edge is None or edges[last_edge] != UNLABELLED:
                    bad(f"an edge label with no edge before it at node {i}")
                else:
                    edges[last_edge] = self.edge_labels[t - first_edge_label]  # type: ignore[index]
            else:
                bad(f"id {t} is not used by this tokenizer")
        if open_node:
            bad(f"node {i} has no SEP")
            close()
        edge_list = sorted(edges)
        return Graph(
            i, edge_list,
            node_labels=node_labels if self.node_labels is not None else None,
            edge_labels=[edges[e] for e in edge_list] if self.edge_labels is not None else None,
        )


def _checked(item: Any, index: int) -> Graph:
    graph = as_graph(item, what=f"graph {index}")
    _check_simple(graph, f"graph {index}")
    return graph


def _check_simple(graph: Graph, what: str) -> None:
    if graph.n == 0:
        raise InputError(f"{what} is empty (no nodes): there is nothing to encode")
