"""Tokenizers: the contract suite, round trips up to isomorphism (hypothesis), labels, and bad input."""

from __future__ import annotations

from graphs_strategies import connected_graphs, simple_graphs, trees
from hypothesis import given, settings, strategies as st
import networkx as nx
import pytest

import arkit
from arkit.testing import TokenizerContract
from arkit_graphs import BfsAdjacencyTokenizer, EdgeListTokenizer, Graph
from arkit_graphs._order import max_cardinality_order
from arkit_graphs.bfs_layers import BfsLayersTokenizer


class TestBfsAdjacencyContract(TokenizerContract):
    component = "graphs/bfs-adjacency"
    config = {"bandwidth": 10, "max_nodes": 10}
    items = connected_graphs(max_nodes=10)
    invalid_items = st.sampled_from([Graph(0), Graph(3, [(0, 1)]), Graph(11, [(i, i + 1) for i in range(10)]),
                                     "not a graph", None])


class TestMaxCardinalityBfsAdjacencyContract(TokenizerContract):
    component = "graphs/bfs-adjacency"
    config = {"bandwidth": 10, "max_nodes": 10, "order": "max-cardinality"}
    items = connected_graphs(max_nodes=10)
    invalid_items = st.sampled_from([Graph(0), Graph(3, [(0, 1)]), Graph(11, [(i, i + 1) for i in range(10)])])


class TestLabelledBfsAdjacencyContract(TokenizerContract):
    component = "graphs/bfs-adjacency"
    config = {"bandwidth": 10, "max_nodes": 10, "node_labels": ["C", "N", "O"], "edge_labels": ["double", "single"]}
    items = connected_graphs(max_nodes=10, labelled=True)

    invalid_items = st.sampled_from([Graph(2, [(0, 1)]), Graph(2, [(0, 1)], node_labels=["C", "S"],
                                                                 edge_labels=["single"])])


class TestEdgeListContract(TokenizerContract):
    component = "graphs/edge-list"
    config = {"max_nodes": 10}
    items = simple_graphs(max_nodes=10)
    invalid_items = st.sampled_from([Graph(0), Graph(11), 3.5])


class TestBfsLayersContract(TokenizerContract):
    component = "graphs/bfs-layers"
    config = {"max_nodes": 12, "max_children": 11}
    items = trees(max_nodes=12)
    invalid_items = st.sampled_from([Graph(0), Graph(3, [(0, 1), (1, 2), (0, 2)]), Graph(3, [(0, 1)]), Graph(13)])


@pytest.mark.parametrize("order", ["bfs", "max-cardinality"])
@settings(max_examples=60, deadline=None)
@given(graph=connected_graphs(max_nodes=12))
def test_bfs_round_trip_is_an_isomorphism_and_stays_inside_the_bandwidth(order: str, graph: Graph) -> None:
    tok = BfsAdjacencyTokenizer(bandwidth=None, max_nodes=None, vocab_size=40, order=order).fit([graph])
    ids = tok.encode(graph)
    back = tok.parse(ids)  # strict: the encoder never writes anything malformed
    assert nx.is_isomorphic(back.to_networkx(), graph.to_networkx())
    assert ids.count(tok.sep) == graph.n
    # every offset points to an earlier node within the learned bandwidth; every node but the first has one
    node, back_edges = 0, 0
    for t in ids:
        if t == tok.sep:
            assert node == 0 or back_edges >= 1
            node, back_edges = node + 1, 0
        else:
            d = t - tok.offset_id(1) + 1
            assert 1 <= d <= min(node, tok.bandwidth)
            back_edges += 1


@settings(max_examples=40, deadline=None)
@given(sizes=st.tuples(st.integers(3, 8), st.integers(3, 8)), data=st.data())
def test_max_cardinality_order_finishes_a_clique_before_crossing_a_bridge(sizes: tuple[int, int],
                                                                          data: st.DataObject) -> None:
    """Two cliques joined by one edge, nodes in any order: the search leaves a clique only once it is done."""
    a, b = sizes
    edges = [(u, v) for u in range(a) for v in range(u + 1, a)]
    edges += [(u, v) for u in range(a, a + b) for v in range(u + 1, a + b)] + [(a - 1, a)]
    perm = list(data.draw(st.permutations(range(a + b))))
    graph = Graph(a + b, edges).relabel(perm)
    new = {old: i for i, old in enumerate(perm)}  # relabel renames node perm[i] to i
    side = {new[v]: v < a for v in range(a + b)}
    order = max_cardinality_order(graph)
    sides = [side[v] for v in order]
    switches = sum(x != y for x, y in zip(sides, sides[1:]))
    # from a bridge end, the partner across ties with the clique mates on visited neighbours (one each);
    # the mates win on common neighbours
    assert switches == 1


def test_an_unknown_node_order_is_a_config_error() -> None:
    with pytest.raises(arkit.ConfigError, match="order must be one of"):
        BfsAdjacencyTokenizer(bandwidth=3, max_nodes=5, order="dfs")


@settings(max_examples=60, deadline=None)
@given(graph=simple_graphs(max_nodes=12), data=st.data())
def test_edge_list_round_trip_under_any_node_order(graph: Graph, data: st.DataObject) -> None:
    tok = EdgeListTokenizer(max_nodes=12)
    order = data.draw(st.permutations(range(graph.n)))
    relabelled = graph.relabel(list(order))
    assert tok.decode(tok.encode(relabelled)) == graph
    assert nx.is_isomorphic(tok.parse(tok.encode(relabelled)).to_networkx(), graph.to_networkx())


def test_graph_equality_is_isomorphism_with_labels() -> None:
    path = Graph(3, [(0, 1), (1, 2)])
    assert path == Graph(3, [(0, 2), (2, 1)]) and hash(path) == hash(Graph(3, [(0, 2), (2, 1)]))
    assert path != Graph(3, [(0, 1), (1, 2), (0, 2)])
    a = Graph(2, [(0, 1)], node_labels=["C", "O"], edge_labels=["double"])
    assert a == Graph(2, [(0, 1)], node_labels=["O", "C"], edge_labels=["double"])
    assert a != Graph(2, [(0, 1)], node_labels=["C", "O"], edge_labels=["single"])


def test_molecular_graph_round_trip_with_atom_and_bond_labels() -> None:
    g = nx.Graph()
    for i, atom in enumerate("CCOCN"):
        g.add_node(i, label=atom)
    for u, v, bond in [(0, 1, "single"), (1, 2, "double"), (1, 3, "single"), (3, 4, "triple")]:
        g.add_edge(u, v, label=bond)
    for tok in (BfsAdjacencyTokenizer(vocab_size=32), EdgeListTokenizer(vocab_size=32)):
        tok.fit([g])
        assert tok.node_labels == ["C", "N", "O"] and tok.edge_labels == ["double", "single", "triple"]
        back = tok.decode(tok.encode(g))
        assert back == Graph.from_networkx(g, node_label="label", edge_label="label")
        assert back != Graph.from_networkx(g)  # labels matter


def test_fit_learns_the_bandwidth_and_saves_it_with_the_pipeline(tmp_path) -> None:
    ladder = nx.ladder_graph(6)
    pipe = arkit.Pipeline.from_preset("graphs/bfs-small", backbone={"n_layers": 1, "d_model": 32, "n_heads": 2},
                                      head={"d_model": 32})
    pipe.tokenizer.fit([ladder])
    assert pipe.tokenizer.bandwidth >= 2 and pipe.tokenizer.max_nodes == 12
    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "p"))
    assert loaded.tokenizer.config == pipe.tokenizer.config
    assert loaded.tokenizer.encode(ladder) == pipe.tokenizer.encode(ladder)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (nx.Graph([(0, 1), (2, 3)]), "graph 1 is disconnected"),
        (nx.Graph(), "graph 1 is empty"),
        (nx.Graph([(0, 0), (0, 1)]), "graph 1: self-loop"),
        (nx.MultiGraph([(0, 1), (0, 1)]), "graph 1: .*multigraphs"),
    ],
)
def test_bad_graphs_in_a_dataset_are_refused_by_index(bad: nx.Graph, message: str) -> None:
    with pytest.raises(arkit.InputError, match=message):
        BfsAdjacencyTokenizer(bandwidth=None, max_nodes=None, vocab_size=40).fit([nx.path_graph(4), bad])


def test_graphs_beyond_the_saved_limits_are_refused() -> None:
    tok = BfsAdjacencyTokenizer(bandwidth=None, max_nodes=None, vocab_size=40).fit([nx.path_graph(5)])
    with pytest.raises(arkit.InputError, match="more than the tokenizer's max_nodes 5"):
        tok.encode(nx.path_graph(6))
    with pytest.raises(arkit.InputError, match="more than the saved bandwidth 1"):
        tok.encode(nx.cycle_graph(4))
    with pytest.raises(arkit.InputError, match="self-loop"):
        Graph(2, [(1, 1)])
    with pytest.raises(arkit.InputError, match="appears twice"):
        Graph(2, [(0, 1), (1, 0)])
    with pytest.raises(arkit.ConfigError, match="vocab_size 8 is smaller"):
        BfsAdjacencyTokenizer(bandwidth=9, max_nodes=5, vocab_size=8)
    with pytest.raises(arkit.InputError, match="graph 0 is not a tree"):
        BfsLayersTokenizer(max_nodes=None, max_children=None, vocab_size=40).fit([nx.cycle_graph(3)])


def test_strict_parse_names_malformed_tokens() -> None:
    tok = BfsAdjacencyTokenizer(bandwidth=3, max_nodes=5)
    with pytest.raises(arkit.InputError, match="points before node 0"):
        tok.parse([tok.sep, tok.offset_id(2), tok.sep])
    with pytest.raises(arkit.InputError, match="must increase"):
        tok.parse([tok.sep, tok.sep, tok.offset_id(2), tok.offset_id(1), tok.sep])
    assert tok.decode([tok.sep, tok.offset_id(2), tok.sep]) == Graph(2)  # lenient decode skips the bad offset
