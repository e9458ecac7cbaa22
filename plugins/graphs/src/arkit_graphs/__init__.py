"""arkit-graphs: graphs as token sequences, generated valid by construction and measured against exact targets."""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
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


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "bfs_adjacency": ["BfsAdjacencyTokenizer"],
        "bfs_layers": ["BfsLayersTokenizer", "LayerSchedule"],
        "constraint": ["BfsConstraint"],
        "datasets": ["DATASETS", "GraphDataset", "atlas_graphs", "augment", "load_dataset"],
        "edge_list": ["EdgeListTokenizer"],
        "graph": ["Graph", "as_graph"],
    },
)
