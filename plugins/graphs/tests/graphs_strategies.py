"""Hypothesis strategies for the graphs tests: random trees, connected graphs (optionally labelled), simple graphs."""

from __future__ import annotations

from hypothesis import strategies as st

from arkit_graphs import Graph


@st.composite
def trees(draw: st.DrawFn, min_nodes: int = 1, max_nodes: int = 12) -> Graph:
    n = draw(st.integers(min_nodes, max_nodes))
    parents = [draw(st.integers(0, i - 1)) for i in range(1, n)]
    order = draw(st.permutations(range(n)))
    return Graph(n, [(p, i) for i, p in enumerate(parents, start=1)]).relabel(list(order))


@st.composite
def connected_graphs(draw: st.DrawFn, max_nodes: int = 10, labelled: bool = False) -> Graph:
    tree = draw(trees(max_nodes=max_nodes))
    n = tree.n
    extra = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    edges = set(tree.edges) | {(min(u, v), max(u, v)) for u, v in extra if u != v}
    edges = sorted(edges)
    if not labelled:
        return Graph(n, edges)
    nodes = draw(st.lists(st.sampled_from("CNO"), min_size=n, max_size=n))
    bonds = draw(st.lists(st.sampled_from(["single", "double"]), min_size=len(edges), max_size=len(edges)))
    return Graph(n, edges, node_labels=nodes, edge_labels=bonds)


@st.composite
def simple_graphs(draw: st.DrawFn, max_nodes: int = 10) -> Graph:
    n = draw(st.integers(1, max_nodes))
    edges = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=2 * n))
    return Graph(n, sorted({(min(u, v), max(u, v)) for u, v in edges if u != v}))
