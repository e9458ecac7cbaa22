"""The module the ``arkit`` entry point names: hook implementations only (cheap to import).

Components are registered by import path, so that listing them (``arkit plugins``) imports no torch.
"""

from __future__ import annotations

import arkit
from arkit.hookspecs import CommandRegister, ComponentRegister, PresetRegister

from .graph import Graph  # the examples' type (plain Python: no torch)

#: The small model of the presets, the demo and the evaluation: about 0.6M parameters.
SMALL = {"d_model": 128, "n_layers": 3, "n_heads": 4, "max_seq_len": 256}
#: Vocabulary capacities of the presets (the tokenizers learn their alphabets when Pipeline.fit runs).
_PATH = Graph(4, [(0, 1), (1, 2), (2, 3)])
_STAR = Graph(5, [(0, 1), (0, 2), (0, 3), (0, 4)])
_CYCLE = Graph(5, [(0, 1), (1, 2), (2, 3), (3, 4), (0, 4)])
_PAW = Graph(4, [(0, 1), (1, 2), (0, 2), (2, 3)])
_TREES = (Graph(1), _PATH, _STAR, Graph(7, [(0, 1), (0, 2), (1, 3), (1, 4), (2, 5), (5, 6)]))
#: Examples the registry-wide contract suite round-trips (items are arkit_graphs.Graph values).
_EXAMPLES = {
    "graphs/bfs-adjacency": (Graph(1), _PATH, _STAR, _CYCLE, _PAW),
    "graphs/edge-list": (Graph(1), _PATH, _CYCLE, _PAW, Graph(4, [(0, 1), (2, 3)])),
    "graphs/bfs-layers": _TREES,
}
PRESET_VOCAB = {"graphs/bfs-adjacency": 64, "graphs/edge-list": 96, "graphs/bfs-layers": 48}


#: Preset tokenizers start unfitted: Pipeline.fit learns their limits from the data.
_UNFITTED = {
    "graphs/bfs-adjacency": {"bandwidth": None, "max_nodes": None},
    "graphs/edge-list": {"max_nodes": None},
    "graphs/bfs-layers": {"max_nodes": None, "max_children": None},
}


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``graphs/bfs-adjacency``, ``graphs/edge-list`` and ``graphs/bfs-layers``."""
    register("graphs/bfs-adjacency", "arkit_graphs.bfs_adjacency:BfsAdjacencyTokenizer",
             examples=_EXAMPLES["graphs/bfs-adjacency"],
             description="GraphRNN-style BFS order + earlier-neighbour offsets within a learned bandwidth; "
                         "optional node/edge labels; lossless up to isomorphism")
    register("graphs/edge-list", "arkit_graphs.edge_list:EdgeListTokenizer", examples=_EXAMPLES["graphs/edge-list"],
             description="G2PT-style node tokens then (u, v) edge tokens in canonical order; optional labels; "
                         "lossless up to isomorphism")
    register("graphs/bfs-layers", "arkit_graphs.bfs_layers:BfsLayersTokenizer", examples=_EXAMPLES["graphs/bfs-layers"],
             description="trees as per-node child counts in BFS order, one block per BFS layer "
                         "(block-wise generation with arkit.generate_blocks); every sequence is a tree")


@arkit.hookimpl
def arkit_register_constraints(register: ComponentRegister) -> None:
    """``graphs/bfs``: neighbour offsets inside the bandwidth, plus connected / tree / degree / size rules."""
    register("graphs/bfs", "arkit_graphs.constraint:BfsConstraint",
             description="BFS adjacency sequences: offsets before the current node and inside the bandwidth; "
                         "optional connected, tree, max_degree, min_nodes/max_nodes")


@arkit.hookimpl
def arkit_register_pipeline_presets(register: PresetRegister) -> None:
    """``graphs/bfs-small``, ``graphs/edge-list-small``, ``graphs/layers-small``: untrained 0.6M-parameter models."""
    for name, tokenizer in (("bfs-small", "graphs/bfs-adjacency"), ("edge-list-small", "graphs/edge-list"),
                            ("layers-small", "graphs/bfs-layers")):
        vocab = PRESET_VOCAB[tokenizer]
        register(
            f"graphs/{name}",
            {
                "tokenizer": (tokenizer, {"vocab_size": vocab, **_UNFITTED[tokenizer]}),
                "backbone": ("core/transformer", {"vocab_size": vocab, **SMALL}),
                "head": ("core/categorical", {"d_model": SMALL["d_model"], "vocab_size": vocab}),
                "sampler": ("core/multinomial", {"temperature": 1.0}),
                "cache": ("core/dynamic", {}),
            },
            description=f"a 0.6M-parameter model over {tokenizer} tokens; Pipeline.fit learns the tokenizer's "
                        f"bandwidth and node limit from the graphs, then trains (see `arkit graphs demo`)",
        )


@arkit.hookimpl
def arkit_register_commands(register: CommandRegister) -> None:
    """``arkit graphs demo`` and ``arkit graphs eval``."""
    register("graphs", "arkit_graphs.cli:run", help="graph generation: train, sample and evaluate",
             arguments="arkit_graphs.cli:add_arguments")  # imported only when the command is used
