"""Metrics: MMD² against hand-computed cases, graphlet counts, V.U.N. with isomorphic duplicates, datasets."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

import arkit
from arkit_graphs import Graph, atlas_graphs, load_dataset
from arkit_graphs.metrics import (
    bisection_cut, degree_histogram, er_baseline, graphlet4_histogram, is_valid, mmd2, mmd_table, spectral_histogram,
    vun,
)


def test_mmd_of_two_single_histograms_by_hand() -> None:
    # p = [1, 0] (all mass on degree 0), q = [0, 1]: CDFs [1, 1] and [0, 1], EMD = 1; TV = 1
    p, q = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    k = math.exp(-1.0 / 2.0)  # exp(-EMD² / (2 σ²)) with σ = 1
    assert mmd2([p], [q], kernel="emd", sigma=1.0) == pytest.approx(2 - 2 * k)
    assert mmd2([p], [q], kernel="tv", sigma=1.0) == pytest.approx(2 - 2 * k)
    # scale 2 halves the ground distance: EMD = 1/2
    assert mmd2([p], [q], kernel="emd", sigma=1.0, scale=2.0) == pytest.approx(2 - 2 * math.exp(-0.125))
    assert mmd2([p, q], [p, q]) == pytest.approx(0.0)


def test_mmd_of_two_sets_by_hand() -> None:
    # X = {path P3}, Y = {star K1,3, path P3}; degree histograms normalised:
    # P3: [0, 2/3, 1/3]; K1,3: [0, 3/4, 0, 1/4]. EMD(P3, K1,3) = sum |CDF diff| = |0|+|2/3-3/4|+|1-3/4|+0 = 1/12 + 1/4 = 1/3
    p3 = degree_histogram(Graph(3, [(0, 1), (1, 2)]))
    star = degree_histogram(Graph(4, [(0, 1), (0, 2), (0, 3)]))
    k = math.exp(-((1 / 3) ** 2) / 2)
    kxx = 1.0
    kyy = (1 + 1 + 2 * k) / 4
    kxy = (k + 1) / 2
    assert mmd2([p3], [star, p3]) == pytest.approx(kxx + kyy - 2 * kxy)


def test_graphlet_counts_of_known_graphs() -> None:
    # [path, star, cycle, paw, diamond, K4]
    assert graphlet4_histogram(Graph.from_networkx(nx.complete_graph(4))).tolist() == [0, 0, 0, 0, 0, 1]
    assert graphlet4_histogram(Graph.from_networkx(nx.cycle_graph(4))).tolist() == [0, 0, 1, 0, 0, 0]
    assert graphlet4_histogram(Graph.from_networkx(nx.star_graph(4))).tolist() == [0, 4, 0, 0, 0, 0]
    assert graphlet4_histogram(Graph.from_networkx(nx.path_graph(5))).tolist() == [2, 0, 0, 0, 0, 0]
    # K5: every 4-subset is a K4
    assert graphlet4_histogram(Graph.from_networkx(nx.complete_graph(5))).tolist() == [0, 0, 0, 0, 0, 5]
    with pytest.raises(arkit.ConfigError, match="at most 30"):
        graphlet4_histogram(Graph(31))


def test_spectral_histogram_counts_every_eigenvalue() -> None:
    h = spectral_histogram(Graph.from_networkx(nx.cycle_graph(6)))
    assert h.sum() == 6 and h[0] == 1  # one zero eigenvalue per component


def test_vun_counts_isomorphic_duplicates_and_training_copies() -> None:
    train = [Graph(3, [(0, 1), (1, 2)])]
    generated = [Graph(3, [(0, 2), (2, 1)]),  # isomorphic to the training path: valid, unique, not novel
                 Graph(4, [(0, 1), (1, 2), (2, 3)]),  # new path: all three
                 Graph(4, [(3, 2), (2, 1), (1, 0)]),  # the same new path again: not unique
                 Graph(3, [(0, 1)])]  # disconnected: invalid, unique, novel
    r = vun(generated, train, "tree")
    assert r == {"valid": 0.75, "unique": 0.75, "novel": 0.75, "vun": 0.25}
    # a malformed sequence is invalid even when its lenient decoding is a tree
    r = vun(generated, train, "tree", well_formed=[True, False, True, True])
    assert r == {"valid": 0.5, "unique": 0.75, "novel": 0.75, "vun": 0.0}
    with pytest.raises(arkit.ConfigError, match="2 flags for 4 graphs"):
        vun(generated, train, "tree", well_formed=[True, True])


def test_validity_rules() -> None:
    assert is_valid(Graph.from_networkx(nx.grid_2d_graph(3, 3)), "planar")
    assert not is_valid(Graph.from_networkx(nx.complete_graph(5)), "planar")
    assert not is_valid(Graph(0), "connected")
    with pytest.raises(arkit.ConfigError, match="unknown validity rule"):
        is_valid(Graph(1), "chordal")


def test_the_table_puts_real_data_near_its_floor_and_far_from_erdos_renyi() -> None:
    data = load_dataset("trees", size=300, seed=1)
    table = mmd_table(list(data.train[:60]), data.test, data.train[60:], statistics=("degree",), seed=0)
    d = table["degree"]
    assert d["mmd2"] < d["er"] / 10 and d["floor"] < d["er"] / 10
    er = er_baseline(data.test, 50, seed=0)
    assert len(er) == 50 and all(g.n >= 10 for g in er)


def test_datasets_are_seeded_and_atlas_is_complete() -> None:
    a, b = load_dataset("community-small", size=40, seed=3), load_dataset("community-small", size=40, seed=3)
    assert [g.edges for g in a.train] == [g.edges for g in b.train]
    assert all(g.is_connected() and 12 <= g.n <= 20 for g in a.train + a.test)
    assert len(atlas_graphs(5)) == 21 and len(atlas_graphs(4)) == 6  # connected graphs on 5 and 4 nodes
    with pytest.raises(arkit.ConfigError, match="unknown graph dataset"):
        load_dataset("proteins")


def test_bisection_cut_finds_two_cliques_joined_by_one_edge() -> None:
    # two K5 joined by one edge, nodes shuffled: the balanced cut is that edge
    edges = [(u, v) for block in (range(5), range(5, 10)) for u in block for v in block if u < v]
    g = Graph(10, [*edges, (4, 5)]).relabel([3, 8, 1, 6, 9, 0, 5, 2, 7, 4])
    assert bisection_cut(g) == 1
    assert bisection_cut(Graph(1)) == 0
    complete = Graph(6, [(u, v) for u in range(6) for v in range(u + 1, 6)])
    assert bisection_cut(complete) == 9  # 3 x 3 pairs across any balanced split
