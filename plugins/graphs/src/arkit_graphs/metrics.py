"""Graph-generation metrics: MMD² on degree / clustering / spectra / 4-node graphlets, and V.U.N.

MMD² (GraphRNN, You et al. 2018; GRAN, Liao et al. 2019) compares two sets of graphs
through one histogram per graph and a kernel between histograms::

    MMD² = mean k(x, x') + mean k(y, y') - 2 mean k(x, y)      (means over all pairs, self-pairs included)

Kernels on histograms ``p``, ``q`` (each normalised to sum 1, zero-padded to one length):

- ``"emd"`` (GraphRNN): ``exp(-EMD(p, q)² / (2 σ²))``; in 1-D the earth mover's distance
  with ground distance ``|i - j| / scale`` is ``sum |CDF_p - CDF_q| / scale``;
- ``"tv"`` (GRAN): ``exp(-TV(p, q)² / (2 σ²))`` with ``TV = sum |p - q| / 2``.

The statistics, with the settings those papers use:

- ``degree``: the degree histogram, EMD kernel, σ = 1;
- ``clustering``: the local clustering coefficients in 100 bins over [0, 1], EMD kernel,
  σ = 0.1, scale = 100;
- ``spectral``: eigenvalues of the normalised Laplacian in 200 bins over [-1e-5, 2], TV
  kernel, σ = 1 (eigenvalues clipped to [0, 2] first: rounding can put a bipartite graph's
  eigenvalue 2 just past the last bin, which GRAN's code then drops);
- ``graphlet4``: counts of the six connected 4-node induced subgraphs (path, star, cycle,
  paw, diamond, K4) as a distribution, TV kernel, σ = 1. This stands in for GraphRNN's
  orbit MMD (ORCA, not on PyPI): graphlet counts, not per-node orbit counts, computed by
  brute force over all 4-node subsets, so only for graphs with at most 30 nodes.

For two-community graphs, :func:`bisection_cut` counts the edges across a Kernighan-Lin
bisection: a few for two dense communities, about a quarter of all pairs times the density
for a graph without them.

Uniqueness and novelty use Weisfeiler-Lehman hashes with an isomorphism test on every
hash collision (:class:`Graph` equality), so they are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
import itertools
import random
from typing import Any

import numpy as np

from arkit import ConfigError

from .graph import Graph

__all__ = ["STATISTICS", "bisection_cut", "degree_histogram", "clustering_histogram", "er_baseline",
           "graphlet4_histogram", "is_valid", "mmd2", "mmd_table", "spectral_histogram", "vun"]

GRAPHLET_MAX_NODES = 30


# -- per-graph histograms -------------------------------------------------------------
def degree_histogram(graph: Graph) -> np.ndarray:
    """Counts of nodes with degree 0, 1, 2, ..."""
    degrees = [len(a) for a in graph.neighbours]
    return np.bincount(degrees, minlength=1).astype(float) if degrees else np.zeros(1)


def clustering_histogram(graph: Graph, bins: int = 100) -> np.ndarray:
    """The local clustering coefficients in ``bins`` equal bins over [0, 1]."""
    import networkx as nx

    values = list(nx.clustering(graph.to_networkx()).values())
    hist, _ = np.histogram(values, bins=bins, range=(0.0, 1.0))
    return hist.astype(float)


def spectral_histogram(graph: Graph, bins: int = 200) -> np.ndarray:
    """Eigenvalues of the normalised Laplacian in ``bins`` bins over [-1e-5, 2]."""
    n = graph.n
    a = np.zeros((n, n))
    for u, v in graph.edges:
        a[u, v] = a[v, u] = 1.0
    d = a.sum(1)
    inv = np.where(d > 0, 1.0 / np.sqrt(np.maximum(d, 1e-12)), 0.0)
    lap = np.eye(n) * (d > 0) - inv[:, None] * a * inv[None, :]
    eig = np.clip(np.linalg.eigvalsh(lap), 0.0, 2.0) if n else np.zeros(0)  # rounding can put a bipartite 2 past 2
    hist, _ = np.histogram(eig, bins=bins, range=(-1e-5, 2.0))
    return hist.astype(float)


_COMBOS: dict[int, np.ndarray] = {}


def graphlet4_histogram(graph: Graph) -> np.ndarray:
    """Counts of connected induced 4-node subgraphs: [path, star, cycle, paw, diamond, K4]."""
    n = graph.n
    if n > GRAPHLET_MAX_NODES:
        raise ConfigError(f"graphlet counts are brute force over 4-node subsets: graphs of at most "
                          f"{GRAPHLET_MAX_NODES} nodes, got {n}")
    counts = np.zeros(6)
    if n < 4:
        return counts
    if n not in _COMBOS:
        _COMBOS[n] = np.array(list(itertools.combinations(range(n), 4)), dtype=np.int64)
    quads = _COMBOS[n]
    a = np.zeros((n, n), dtype=np.int64)
    for u, v in graph.edges:
        a[u, v] = a[v, u] = 1
    pairs = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    e = np.stack([a[quads[:, i], quads[:, j]] for i, j in pairs], axis=1)  # [Q, 6]
    deg = np.stack([e[:, [0, 1, 2]].sum(1), e[:, [0, 3, 4]].sum(1), e[:, [1, 3, 5]].sum(1),
                    e[:, [2, 4, 5]].sum(1)], axis=1)
    m, lo, hi = e.sum(1), deg.min(1), deg.max(1)
    counts[0] = np.sum((m == 3) & (lo == 1) & (hi == 2))  # path P4
    counts[1] = np.sum((m == 3) & (hi == 3))  # star K1,3
    counts[2] = np.sum((m == 4) & (hi == 2))  # cycle C4
    counts[3] = np.sum((m == 4) & (hi == 3))  # paw (triangle with a pendant)
    counts[4] = np.sum(m == 5)  # diamond
    counts[5] = np.sum(m == 6)  # K4
    return counts


# -- MMD ----------------------------------------------------------------------------
def _stack(hists: Sequence[np.ndarray], width: int) -> np.ndarray:
    out = np.zeros((len(hists), width))
    for i, h in enumerate(hists):
        out[i, : len(h)] = h
    total = out.sum(1, keepdims=True)
    return np.divide(out, total, out=np.zeros_like(out), where=total > 0)


def _kernel_matrix(x: np.ndarray, y: np.ndarray, kernel: str, sigma: float, scale: float) -> np.ndarray:
    if kernel == "emd":
        cx, cy = np.cumsum(x, 1), np.cumsum(y, 1)
        dist = np.abs(cx[:, None, :] - cy[None, :, :]).sum(-1) / scale
    elif kernel == "tv":
        dist = np.abs(x[:, None, :] - y[None, :, :]).sum(-1) / 2.0
    else:
        raise ConfigError(f"kernel must be 'emd' or 'tv', got {kernel!r}")
    return np.exp(-(dist**2) / (2.0 * sigma**2))


def mmd2(
    hists_x: Sequence[np.ndarray], hists_y: Sequence[np.ndarray], *, kernel: str = "emd", sigma: float = 1.0,
    scale: float = 1.0,
) -> float:
    """MMD² between two sets of histograms (each normalised to sum 1) under a Gaussian EMD or TV kernel."""
    if not hists_x or not hists_y:
        raise ConfigError("MMD needs at least one histogram on each side")
    width = max(len(h) for h in (*hists_x, *hists_y))
    x, y = _stack(hists_x, width), _stack(hists_y, width)
    kxx = _kernel_matrix(x, x, kernel, sigma, scale).mean()
    kyy = _kernel_matrix(y, y, kernel, sigma, scale).mean()
    kxy = _kernel_matrix(x, y, kernel, sigma, scale).mean()
    return float(kxx + kyy - 2.0 * kxy)


#: name -> (histogram function, kernel, sigma, scale)
STATISTICS: dict[str, tuple[Callable[[Graph], np.ndarray], str, float, float]] = {
    "degree": (degree_histogram, "emd", 1.0, 1.0),
    "clustering": (clustering_histogram, "emd", 0.1, 100.0),
    "spectral": (spectral_histogram, "tv", 1.0, 1.0),
    "graphlet4": (graphlet4_histogram, "tv", 1.0, 1.0),
}


def er_baseline(reference: Sequence[Graph], count: int, *, seed: int = 0) -> list[Graph]:
    """``count`` Erdős–Rényi graphs G(n, p), each matching the size and density of a random reference graph."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        ref = reference[int(rng.integers(len(reference)))]
        n = ref.n
        p = 2.0 * len(ref.edges) / (n * (n - 1)) if n > 1 else 0.0
        upper = [(u, v) for u in range(n) for v in range(u + 1, n)]
        keep = rng.random(len(upper)) < p
        out.append(Graph(n, [e for e, k in zip(upper, keep) if k]))
    return out


def mmd_table(
    generated: Sequence[Graph], test: Sequence[Graph], train: Sequence[Graph], *,
    statistics: Iterable[str] = ("degree", "clustering", "spectral", "graphlet4"), seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per statistic: MMD² of ``generated`` vs ``test``, the train-vs-test floor and an Erdős–Rényi baseline.

    The floor and the baseline use as many graphs as ``generated`` (a seeded subset of
    ``train``; ER graphs matched to random test graphs), so the three are comparable.
    ``graphlet4`` is skipped (reported as absent) when any graph has more than 30 nodes.
    """
    generated = [g for g in generated if g.n > 0]
    if not generated:
        raise ConfigError("no non-empty generated graphs to evaluate")
    size = len(generated)
    rng = random.Random(seed)
    floor_set = rng.sample(list(train), min(size, len(train)))
    test_set = rng.sample(list(test), min(size, len(test)))
    er = er_baseline(test, size, seed=seed)
    table: dict[str, dict[str, float]] = {}
    for name in statistics:
        fn, kernel, sigma, scale = STATISTICS[name]
        sets = (generated, test_set, floor_set, er)
        if name == "graphlet4" and max(g.n for s in sets for g in s) > GRAPHLET_MAX_NODES:
            continue
        h_gen, h_test, h_floor, h_er = ([fn(g) for g in s] for s in sets)
        table[name] = {
            "mmd2": mmd2(h_gen, h_test, kernel=kernel, sigma=sigma, scale=scale),
            "floor": mmd2(h_floor, h_test, kernel=kernel, sigma=sigma, scale=scale),
            "er": mmd2(h_er, h_test, kernel=kernel, sigma=sigma, scale=scale),
        }
    return table


def bisection_cut(graph: Graph, *, seed: int = 0) -> int:
    """Edges across the Kernighan-Lin bisection of ``graph`` into two halves (networkx, seeded; 0 below 2 nodes).

    Kernighan-Lin improves a split by swaps, so this is an upper bound on the minimum balanced
    cut; on community-small's 2-block graphs it finds the blocks.
    """
    if graph.n < 2:
        return 0
    import networkx as nx

    g = graph.to_networkx()
    left, right = nx.algorithms.community.kernighan_lin_bisection(g, seed=seed)
    return int(nx.cut_size(g, left, right))


# -- validity, uniqueness, novelty ------------------------------------------------------
def is_valid(graph: Graph, rule: str) -> bool:
    """Whether ``graph`` obeys a dataset's rule: ``"tree"``, ``"connected"``, ``"planar"`` (connected and planar)."""
    if graph.n == 0:
        return False
    if rule == "tree":
        return graph.is_tree()
    if rule == "connected":
        return graph.is_connected()
    if rule == "planar":
        import networkx as nx

        return graph.is_connected() and nx.check_planarity(graph.to_networkx())[0]
    if rule == "none":
        return True
    raise ConfigError(f"unknown validity rule {rule!r}: use 'tree', 'connected', 'planar' or 'none'")


class _IsoSet:
    """A set of graphs up to isomorphism: WL-hash buckets, an isomorphism test inside a bucket."""

    def __init__(self, graphs: Iterable[Graph] = ()) -> None:
        self._buckets: dict[str, list[Graph]] = {}
        for g in graphs:
            self.add(g)

    def __contains__(self, graph: Graph) -> bool:
        return any(graph.isomorphic(h) for h in self._buckets.get(graph.wl_hash, ()))

    def add(self, graph: Graph) -> bool:
        """Add ``graph``; false when an isomorphic one was there already."""
        if graph in self:
            return False
        self._buckets.setdefault(graph.wl_hash, []).append(graph)
        return True


def vun(generated: Sequence[Graph], train: Sequence[Graph], rule: str,
        well_formed: Sequence[bool] | None = None) -> dict[str, float]:
    """Valid, unique (not isomorphic to an earlier sample), novel (not isomorphic to a training graph) and
    V.U.N. (all three at once, SPECTRE's figure), as fractions of all samples.

    ``well_formed``: one flag per sample (whether its token sequence parsed strictly); a sample
    whose sequence was malformed is invalid whatever graph its lenient decoding gives.
    """
    if not generated:
        raise ConfigError("no generated graphs to evaluate")
    if well_formed is not None and len(well_formed) != len(generated):
        raise ConfigError(f"well_formed has {len(well_formed)} flags for {len(generated)} graphs")
    formed = list(well_formed) if well_formed is not None else [True] * len(generated)
    seen, known = _IsoSet(), _IsoSet(train)
    valid = unique = novel = both = 0
    for g, ok in zip(generated, formed):
        v = ok and is_valid(g, rule)
        u = seen.add(g) if g.n > 0 else False
        nv = g.n > 0 and g not in known
        valid += v
        unique += u
        novel += nv
        both += v and u and nv
    n = len(generated)
    return {"valid": valid / n, "unique": unique / n, "novel": novel / n, "vun": both / n}


def summary(graphs: Sequence[Graph]) -> dict[str, Any]:
    """Mean node and edge counts."""
    return {"nodes": float(np.mean([g.n for g in graphs])), "edges": float(np.mean([len(g.edges) for g in graphs]))}
