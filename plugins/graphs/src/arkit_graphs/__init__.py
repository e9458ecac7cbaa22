"""arkit-graphs: graphs as token sequences, generated valid by construction and measured against exact targets."""

from .bfs_adjacency import BfsAdjacencyTokenizer
from .bfs_layers import BfsLayersTokenizer, LayerSchedule
from .constraint import BfsConstraint
from .datasets import DATASETS, GraphDataset, atlas_graphs, augment, load_dataset
from .edge_list import EdgeListTokenizer
from .graph import Graph, as_graph

__all__ = [
    "BfsAdjacencyTokenizer",
    "BfsLayersTokenizer",
    "BfsConstraint",
    "DATASETS",
    "EdgeListTokenizer",
    "Graph",
    "GraphDataset",
    "LayerSchedule",
    "as_graph",
    "atlas_graphs",
    "augment",
    "load_dataset",
]
