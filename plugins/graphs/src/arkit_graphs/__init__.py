"""arkit-graphs: graphs as token sequences, generated valid by construction and measured against exact targets."""

import importlib
from typing import TYPE_CHECKING, Any

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


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "BfsAdjacencyTokenizer": ".bfs_adjacency",
    "BfsLayersTokenizer": ".bfs_layers",
    "LayerSchedule": ".bfs_layers",
    "BfsConstraint": ".constraint",
    "DATASETS": ".datasets",
    "GraphDataset": ".datasets",
    "atlas_graphs": ".datasets",
    "augment": ".datasets",
    "load_dataset": ".datasets",
    "EdgeListTokenizer": ".edge_list",
    "Graph": ".graph",
    "as_graph": ".graph",
}


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
