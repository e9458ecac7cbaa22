"""``Graph``: a small, immutable, unlabelled graph value, equal to any graph isomorphic to it.

Tokenizers in this plugin encode a ``Graph`` (or a ``networkx.Graph``) and decode
to a ``Graph``. Graph tokenizers are lossless *up to isomorphism*: the node order
of a decoded graph is the tokenizer's (BFS order, for instance), not the input's.
So ``Graph.__eq__`` is an isomorphism test (labels included) and ``__hash__`` the
Weisfeiler-Lehman hash, which isomorphic graphs share: ``decode(encode(g)) == g``
holds in exactly the sense that matters.

Nodes are ``0 .. n-1``; ``edges`` are sorted pairs ``(u, v)`` with ``u < v``.
Optional ``node_labels`` (one string per node) and ``edge_labels`` (one string
per edge, in ``edges`` order) carry atom and bond types for molecular graphs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import functools
from typing import Any
import warnings

from arkit import InputError

__all__ = ["Graph", "as_graph"]


class Graph:
    """An undirected simple graph on nodes ``0 .. n-1`` with optional node and edge labels."""

    def __init__(
        self,
        n: int,
        edges: Iterable[tuple[int, int]] = (),
        *,
        node_labels: Sequence[str] | None = None,
        edge_labels: Sequence[str] | None = None,
    ) -> None:
        if not isinstance(n, int) or n < 0:
            raise InputError(f"a graph's node count must be an int >= 0, got {n!r}")
        pairs = [tuple(e) for e in edges]
        if edge_labels is not None and len(edge_labels) != len(pairs):
            raise InputError(f"got {len(edge_labels)} edge labels for {len(pairs)} edges")
        labelled: dict[tuple[int, int], str | None] = {}
        for index, pair in enumerate(pairs):
            if len(pair) != 2 or not all(isinstance(x, int) and 0 <= x < n for x in pair):
                raise InputError(f"edge {pair!r} is not a pair of node indices in [0, {n})")
            u, v = sorted(pair)
            if u == v:
                raise InputError(f"self-loop on node {u}: graphs here are simple (no self-loops)")
            if (u, v) in labelled:
                raise InputError(f"edge ({u}, {v}) appears twice: graphs here are simple (no multi-edges)")
            labelled[(u, v)] = None if edge_labels is None else str(edge_labels[index])
        if node_labels is not None and len(node_labels) != n:
            raise InputError(f"got {len(node_labels)} node labels for {n} nodes")
        self.n = n
        self.edges: tuple[tuple[int, int], ...] = tuple(sorted(labelled))
        self.node_labels = None if node_labels is None else tuple(str(x) for x in node_labels)
        self.edge_labels = None if edge_labels is None else tuple(labelled[e] for e in self.edges)  # type: ignore[misc]

    # -- conversions ---------------------------------------------------------------
    @classmethod
    def from_networkx(cls, graph: Any, *, node_label: str | None = None, edge_label: str | None = None) -> Graph:
        """Nodes in ``graph``'s iteration order become ``0 .. n-1``; labels read from the named attributes."""
        import networkx as nx

        if not isinstance(graph, nx.Graph):
            raise InputError(f"expected a networkx.Graph, got {type(graph).__name__}")
        if graph.is_directed() or graph.is_multigraph():
            raise InputError("directed graphs and multigraphs are not supported: pass an undirected simple nx.Graph")
        index = {node: i for i, node in enumerate(graph.nodes)}
        edges = [(index[u], index[v]) for u, v in graph.edges]  # a self-loop raises in __init__
        nodes = None if node_label is None else [str(graph.nodes[v].get(node_label, "")) for v in graph.nodes]
        labels = None if edge_label is None else [str(graph.edges[u, v].get(edge_label, "")) for u, v in graph.edges]
        return cls(len(index), edges, node_labels=nodes, edge_labels=labels)

    def to_networkx(self) -> Any:
        """A ``networkx.Graph`` with nodes ``0 .. n-1`` (labels as the ``label`` attribute)."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        if self.node_labels is not None:
            nx.set_node_attributes(g, dict(enumerate(self.node_labels)), "label")
        g.add_edges_from(self.edges)
        if self.edge_labels is not None:
            nx.set_edge_attributes(g, dict(zip(self.edges, self.edge_labels)), "label")
        return g

    def relabel(self, order: Sequence[int]) -> Graph:
        """The same graph with node ``order[i]`` renamed ``i`` (``order`` a permutation of the nodes)."""
        if sorted(order) != list(range(self.n)):
            raise InputError(f"order must be a permutation of range({self.n})")
        new = {old: i for i, old in enumerate(order)}
        nodes = None if self.node_labels is None else [self.node_labels[old] for old in order]
        return Graph(self.n, [(new[u], new[v]) for u, v in self.edges], node_labels=nodes, edge_labels=self.edge_labels)

    # -- structure -----------------------------------------------------------------
    @functools.cached_property
    def neighbours(self) -> tuple[frozenset[int], ...]:
        adj: list[set[int]] = [set() for _ in range(self.n)]
        for u, v in self.edges:
            adj[u].add(v)
            adj[v].add(u)
        return tuple(frozenset(a) for a in adj)

    def edge_label(self, u: int, v: int) -> str | None:
        if self.edge_labels is None:
            return None
        return self._edge_label_map[(min(u, v), max(u, v))]

    @functools.cached_property
    def _edge_label_map(self) -> dict[tuple[int, int], str]:
        return dict(zip(self.edges, self.edge_labels or ()))

    @property
    def labelled(self) -> bool:
        return self.node_labels is not None or self.edge_labels is not None

    def is_connected(self) -> bool:
        if self.n == 0:
            return False
        seen, stack = {0}, [0]
        while stack:
            for w in self.neighbours[stack.pop()]:
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        return len(seen) == self.n

    def is_tree(self) -> bool:
        return self.n >= 1 and len(self.edges) == self.n - 1 and self.is_connected()

    # -- value semantics: equality is isomorphism ----------------------------------------
    @functools.cached_property
    def wl_hash(self) -> str:
        """``networkx.weisfeiler_lehman_graph_hash`` (labels included): equal for isomorphic graphs."""
        import networkx as nx

        g = self.to_networkx()
        labelled = self.labelled
        if labelled:
            for v in g.nodes:
                g.nodes[v].setdefault("label", "")
            for u, v in g.edges:
                g.edges[u, v].setdefault("label", "")
        with warnings.catch_warnings():  # networkx 3.5+ warns that unlabelled hashes changed once; ours are never stored
            warnings.simplefilter("ignore", UserWarning)
            return nx.weisfeiler_lehman_graph_hash(g, node_attr="label" if labelled else None,
                                                   edge_attr="label" if labelled else None, iterations=3)

    def isomorphic(self, other: Graph) -> bool:
        """Whether the two graphs are isomorphic, node and edge labels included."""
        import networkx as nx
        from networkx.algorithms.isomorphism import categorical_edge_match, categorical_node_match

        if self.n != other.n or len(self.edges) != len(other.edges) or self.labelled != other.labelled:
            return False
        if sorted(len(a) for a in self.neighbours) != sorted(len(a) for a in other.neighbours):
            return False
        nm = categorical_node_match("label", None) if self.node_labels is not None else None
        em = categorical_edge_match("label", None) if self.edge_labels is not None else None
        return nx.is_isomorphic(self.to_networkx(), other.to_networkx(), node_match=nm, edge_match=em)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return self.isomorphic(other)

    def __hash__(self) -> int:
        return hash(self.wl_hash)

    def __repr__(self) -> str:
        extra = ""
        if self.node_labels is not None:
            extra += f", node_labels={list(self.node_labels)}"
        if self.edge_labels is not None:
            extra += f", edge_labels={list(self.edge_labels)}"
        return f"Graph({self.n}, {list(self.edges)}{extra})"


def as_graph(item: Any, *, what: str = "item") -> Graph:
    """``item`` as a :class:`Graph`: a ``Graph`` itself, or a ``networkx.Graph`` (labels from ``label``)."""
    if isinstance(item, Graph):
        return item
    try:
        import networkx as nx
    except ImportError:  # pragma: no cover - networkx is a dependency
        nx = None
    if nx is not None and isinstance(item, nx.Graph):
        has_nodes = any("label" in d for _, d in item.nodes(data=True))
        has_edges = any("label" in d for _, _, d in item.edges(data=True))
        try:
            return Graph.from_networkx(item, node_label="label" if has_nodes else None,
                                       edge_label="label" if has_edges else None)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None
    raise InputError(f"{what} must be an arkit_graphs.Graph or a networkx.Graph, got {type(item).__name__}")
