"""``graphs/edge-list``: G2PT-style sequences, node tokens then edge tokens.

A graph on ``n`` nodes (in BFS order from node 0, component by component) is::

    NODE NODE ... NODE  SEP  u_1 v_1 [edge label]  u_2 v_2 [edge label] ...

one ``NODE`` token (or the node's label) per node, then each edge ``(u, v)`` with
``u < v`` as two node-index tokens, in the canonical order sorted by ``(v, u)``
(so edges arrive node by node, like the BFS tokenizer's). Any simple graph with at
least one node and at most ``max_nodes`` nodes has a sequence, connected or not.

Token ids: ``0`` pad, ``1`` bos, ``2`` eos, ``3`` SEP, ``4`` NODE, then the node
labels, then ``max_nodes`` index tokens, then the edge labels. Lossless up to
isomorphism (see :class:`Graph`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from arkit import ConfigError, InputError

from ._order import bfs_order
from ._vocabulary import BOS, EOS, PAD, SEP, GraphVocabulary
from .graph import Graph, as_graph

__all__ = ["EdgeListTokenizer"]


NODE = 4
_UNLABELLED = "*"


class EdgeListTokenizer(GraphVocabulary):
    """Node tokens, SEP, then ``(u, v)`` index pairs sorted by ``(v, u)``; optional node and edge labels.

    ``max_nodes``: the largest graph (default 16; learned by :meth:`fit` when ``None``);
    ``node_labels`` / ``edge_labels``: label alphabets (learned from labelled data);
    ``vocab_size``: an optional fixed capacity.
    """

    def __init__(
        self,
        *,
        max_nodes: int | None = 16,
        node_labels: Sequence[str] | None = None,
        edge_labels: Sequence[str] | None = None,
        vocab_size: int | None = None,
    ) -> None:
        if max_nodes is None and vocab_size is None:
            raise ConfigError("give max_nodes, or vocab_size (a capacity) and call fit(graphs) to learn it")
        self._init_vocabulary(max_nodes, node_labels, edge_labels, vocab_size)

    @property
    def fitted(self) -> bool:
        return self.max_nodes is not None

    @property
    def _first_index(self) -> int:
        return NODE + 1 + len(self.node_labels or ())

    @property
    def _used(self) -> int:
        return self._first_index + (self.max_nodes or 0) + len(self.edge_labels or ())

    def index_id(self, v: int) -> int:
        """The id of node index ``v``."""
        return self._first_index + v

    @property
    def config(self) -> dict[str, Any]:
        return {"max_nodes": self.max_nodes, "node_labels": self.node_labels, "edge_labels": self.edge_labels,
                "vocab_size": self._capacity}

    def fit(self, items: Iterable[Any]) -> EdgeListTokenizer:
        """Learn the node limit and label alphabets from ``items``; refuse bad graphs by index."""
        graphs = [as_graph(item, what=f"graph {index}") for index, item in enumerate(items)]
        if not graphs:
            raise InputError("fit got no graphs")
        self._learn(graphs)
        return self

    def _encode_checked(self, graph: Graph, what: str) -> list[int]:
        if not self.fitted:
            raise ConfigError("the tokenizer has no max_nodes yet: call fit(graphs) first")
        assert self.max_nodes is not None
        if graph.n == 0:
            raise InputError(f"{what} is empty (no nodes): there is nothing to encode")
        if graph.n > self.max_nodes:
            raise InputError(f"{what} has {graph.n} nodes, more than the tokenizer's max_nodes {self.max_nodes}")
        if (graph.node_labels is not None) != (self.node_labels is not None) or (
            graph.edge_labels is not None
        ) != (self.edge_labels is not None):
            raise InputError(f"{what}: its labels do not match the tokenizer's (labelled nodes "
                             f"{self.node_labels is not None}, labelled edges {self.edge_labels is not None})")
        order = bfs_order(graph)
        position = {v: i for i, v in enumerate(order)}
        ids: list[int] = []
        for v in order:
            if self.node_labels is None:
                ids.append(NODE)
            else:
                label = graph.node_labels[v]  # type: ignore[index]
                if label not in self.node_labels:
                    raise InputError(f"{what}: node label {label!r} is not in the tokenizer's {self.node_labels}")
                ids.append(NODE + 1 + self.node_labels.index(label))
        ids.append(SEP)
        pairs = sorted((max(position[u], position[v]), min(position[u], position[v]), u, v) for u, v in graph.edges)
        for hi, lo, u, v in pairs:
            ids += [self.index_id(lo), self.index_id(hi)]
            if self.edge_labels is not None:
                label = graph.edge_label(u, v)
                if label not in self.edge_labels:
                    raise InputError(f"{what}: edge label {label!r} is not in the tokenizer's {self.edge_labels}")
                ids.append(self._first_index + self.max_nodes + self.edge_labels.index(label))
        return ids

    def decode(self, ids: Sequence[int]) -> Graph:
        """The graph the ids describe; malformed parts (an index past the last node, a repeated edge) are skipped."""
        return self.parse(ids, strict=False)

    def parse(self, ids: Sequence[int], *, strict: bool = True) -> Graph:
        """Like :meth:`decode`; with ``strict``, raise :class:`arkit.InputError` on anything malformed."""
        first_index = self._first_index
        first_edge_label = first_index + (self.max_nodes or 0)
        node_labels: list[str] = []
        edges: dict[tuple[int, int], str] = {}
        pending: list[int] = []
        last: tuple[int, int] | None = None
        in_edges = False

        def bad(message: str) -> None:
            if strict:
                raise InputError(f"token {position}: {message}")

        for position, raw in enumerate(ids):
            t = int(raw)
            if t in (PAD, BOS, EOS):  # special ids are skipped wherever they are
                continue
            if t == SEP:
                if in_edges:
                    bad("a second SEP")
                in_edges = True
            elif NODE <= t < first_index:
                if in_edges:
                    bad("a node token among the edges")
                else:
                    node_labels.append(_UNLABELLED if t == NODE else self.node_labels[t - NODE - 1])  # type: ignore[index]
            elif first_index <= t < first_edge_label:
                if not in_edges:
                    bad("a node index before SEP")
                    continue
                pending.append(t - first_index)
                last = None
                if len(pending) == 2:
                    u, v = pending
                    pending = []
                    if not (u < v < len(node_labels)):
                        bad(f"edge ({u}, {v}) is not a pair u < v of the {len(node_labels)} nodes")
                    elif (u, v) in edges:
                        bad(f"edge ({u}, {v}) appears twice")
                    else:
                        edges[(u, v)] = _UNLABELLED
                        last = (u, v)
            elif first_edge_label <= t < first_edge_label + len(self.edge_labels or ()):
                if last is None or edges[last] != _UNLABELLED:
                    bad("an edge label with no edge before it")
                else:
                    edges[last] = self.edge_labels[t - first_edge_label]  # type: ignore[index]
            else:
                bad(f"id {t} is not used by this tokenizer")
        if pending:
            bad("an edge with one end")
        edge_list = sorted(edges)
        return Graph(
            len(node_labels), edge_list,
            node_labels=node_labels if self.node_labels is not None else None,
            edge_labels=[edges[e] for e in edge_list] if self.edge_labels is not None else None,
        )
