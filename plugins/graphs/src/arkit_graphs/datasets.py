"""Graph datasets, all offline: networkx generators, the graph atlas, RDKit molecular graphs.

:func:`load_dataset` returns seeded train and test splits of :class:`Graph` values
whose node order is a seeded random permutation (so a BFS tokenizer starts from a
random node, as GraphRNN does). Each dataset has a validity *rule* the evaluation
checks samples against.

=================  ==========================================================  =========
name               graphs                                                      rule
=================  ==========================================================  =========
``trees``          uniformly random labelled trees, 10-20 nodes                tree
``community-small`` 2-block stochastic block model, 12-20 nodes (p_in 0.7,     connected
                   p_out 0.05), connected ones kept (GraphRNN's set)
``grid``           2-D grids, 3-6 by 3-6 nodes                                 planar
``ladder``         ladder graphs, 5-12 rungs                                   planar
``barabasi-albert`` Barabasi-Albert, 12-24 nodes, m = 2                        connected
``lobster``        random lobsters (p1 = p2 = 0.7), 10-30 nodes                tree
``atlas-N``        every connected graph with N nodes (N = 2..7) from          connected
                   ``nx.graph_atlas_g()``, one copy each: an exact, uniform
                   target distribution
``molecules``      heavy-atom graphs of RDKit's bundled NCI set (atom and      connected
                   bond types as labels; needs arkit-molecules), <= 30 atoms
=================  ==========================================================  =========
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import random
from typing import Any

import attrs

from arkit import ConfigError

from .graph import Graph

__all__ = ["DATASETS", "GraphDataset", "augment", "atlas_graphs", "load_dataset", "shuffled"]

#: Dataset names, their default sizes and validity rules.
DATASETS: dict[str, tuple[int, str]] = {
    "trees": (3000, "tree"),
    "community-small": (1000, "connected"),
    "grid": (200, "planar"),
    "ladder": (200, "planar"),
    "barabasi-albert": (1000, "connected"),
    "lobster": (1000, "tree"),
    "molecules": (3000, "connected"),
    **{f"atlas-{n}": (0, "connected") for n in range(2, 8)},
}


@attrs.frozen(kw_only=True)
class GraphDataset:
    """A named dataset's train and test graphs, its validity rule and what loading skipped."""

    name: str
    rule: str
    train: tuple[Graph, ...]
    test: tuple[Graph, ...]
    skipped: int = 0
    """Generated graphs dropped because they broke the dataset's definition (e.g. disconnected SBM draws)."""


def shuffled(graph: Graph, rng: random.Random) -> Graph:
    """``graph`` with its nodes in a random order drawn from ``rng``."""
    order = list(range(graph.n))
    rng.shuffle(order)
    return graph.relabel(order)


def augment(graphs: Sequence[Graph], copies: int, *, seed: int = 0) -> list[Graph]:
    """``copies`` random node orders of every graph (a different BFS start each), for training."""
    if copies < 1:
        raise ConfigError(f"copies must be >= 1, got {copies}")
    rng = random.Random(seed)
    return [shuffled(g, rng) for g in graphs for _ in range(copies)]


def atlas_graphs(n: int) -> list[Graph]:
    """Every connected graph with exactly ``n`` nodes, up to isomorphism (networkx's atlas, n <= 7)."""
    import networkx as nx

    if not 1 <= n <= 7:
        raise ConfigError(f"the graph atlas holds graphs with 1 to 7 nodes, got n={n}")
    return [Graph.from_networkx(g) for g in nx.graph_atlas_g() if g.number_of_nodes() == n and nx.is_connected(g)]


def _generator(name: str) -> Callable[[random.Random], Any]:
    import networkx as nx

    def trees(rng: random.Random) -> Any:
        return nx.random_labeled_tree(rng.randint(10, 20), seed=rng.randrange(2**31))

    def community(rng: random.Random) -> Any:
        n = rng.randint(12, 20)
        sizes = [n // 2, n - n // 2]
        return nx.stochastic_block_model(sizes, [[0.7, 0.05], [0.05, 0.7]], seed=rng.randrange(2**31))

    def grid(rng: random.Random) -> Any:
        return nx.grid_2d_graph(rng.randint(3, 6), rng.randint(3, 6))

    def ladder(rng: random.Random) -> Any:
        return nx.ladder_graph(rng.randint(5, 12))

    def barabasi(rng: random.Random) -> Any:
        return nx.barabasi_albert_graph(rng.randint(12, 24), 2, seed=rng.randrange(2**31))

    def lobster(rng: random.Random) -> Any:
        return nx.random_lobster(rng.randint(4, 10), 0.7, 0.7, seed=rng.randrange(2**31))

    return {"trees": trees, "community-small": community, "grid": grid, "ladder": ladder,
            "barabasi-albert": barabasi, "lobster": lobster}[name]


def _accept(name: str, g: Any) -> bool:
    import networkx as nx

    if g.number_of_nodes() == 0 or not nx.is_connected(g):
        return False
    return not (name == "lobster" and not 10 <= g.number_of_nodes() <= 30)


def _molecules(limit: int, rng: random.Random) -> tuple[list[Graph], int]:
    try:
        from arkit_molecules import load_smiles
    except ImportError as exc:
        raise ConfigError("the molecules dataset needs arkit-molecules (pip install arkit-molecules)") from exc
    from rdkit import Chem

    graphs, skipped = [], 0
    for smiles in load_smiles("nci").smiles:
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            skipped += 1
            continue
        Chem.Kekulize(mol, clearAromaticFlags=True)
        atoms = [a.GetSymbol() + ("+" if a.GetFormalCharge() > 0 else "-" if a.GetFormalCharge() < 0 else "")
                 for a in mol.GetAtoms()]
        edges = [(b.GetBeginAtomIdx(), b.GetEndAtomIdx()) for b in mol.GetBonds()]
        bonds = [str(b.GetBondType()).lower() for b in mol.GetBonds()]
        graph = Graph(len(atoms), edges, node_labels=atoms, edge_labels=bonds)
        if not 2 <= graph.n <= 30 or not graph.is_connected():
            skipped += 1
            continue
        graphs.append(graph)
    rng.shuffle(graphs)
    return graphs[:limit], skipped


def load_dataset(name: str, *, size: int | None = None, test_fraction: float = 0.2, seed: int = 0) -> GraphDataset:
    """``size`` graphs of dataset ``name`` (its default when ``None``), split into train and test by ``seed``.

    ``atlas-N`` always holds every connected N-node graph once, in both splits (it is a
    target distribution, not a sample of one).
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown graph dataset {name!r}; known: {sorted(DATASETS)}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")
    default, rule = DATASETS[name]
    rng = random.Random(seed)
    if name.startswith("atlas-"):
        graphs = atlas_graphs(int(name.split("-")[1]))
        return GraphDataset(name=name, rule=rule, train=tuple(graphs), test=tuple(graphs))
    size = default if size is None else size
    if size < 2:
        raise ConfigError(f"size must be >= 2 (a train and a test graph), got {size}")
    skipped = 0
    if name == "molecules":
        graphs, skipped = _molecules(size, rng)
    else:
        make, graphs = _generator(name), []
        while len(graphs) < size:
            g = make(rng)
            if _accept(name, g):
                graphs.append(Graph.from_networkx(g))
            else:
                skipped += 1
                if skipped > 50 * size:
                    raise ConfigError(f"dataset {name!r}: too few generated graphs meet its definition")
    graphs = [shuffled(g, rng) for g in graphs]
    n_test = max(1, round(test_fraction * len(graphs)))
    return GraphDataset(name=name, rule=rule, train=tuple(graphs[n_test:]), test=tuple(graphs[:n_test]),
                        skipped=skipped)
