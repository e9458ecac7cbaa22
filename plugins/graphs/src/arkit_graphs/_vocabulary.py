"""What the token-per-step graph tokenizers share: node limit, label alphabets, a fixed capacity, specials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arkit import ConfigError

from .graph import Graph, as_graph

PAD, BOS, EOS, SEP = 0, 1, 2, 3


class GraphVocabulary:
    """The base of ``graphs/bfs-adjacency`` and ``graphs/edge-list``.

    A subclass sets its own fields, calls :meth:`_init_vocabulary`, and defines ``fitted``,
    ``_used`` (the ids it needs) and ``_encode_checked``.
    """

    lossless = True
    special_tokens: Mapping[str, int]

    def _init_vocabulary(self, max_nodes: int | None, node_labels: Sequence[str] | None,
                         edge_labels: Sequence[str] | None, vocab_size: int | None) -> None:
        if max_nodes is not None and (not isinstance(max_nodes, int) or max_nodes < 1):
            raise ConfigError(f"max_nodes must be an int >= 1 (or None to learn it), got {max_nodes!r}")
        self.max_nodes = max_nodes
        self.node_labels = None if node_labels is None else [str(x) for x in node_labels]
        self.edge_labels = None if edge_labels is None else [str(x) for x in edge_labels]
        self._capacity = vocab_size
        if vocab_size is not None and self.fitted and vocab_size < self._used:
            raise ConfigError(f"vocab_size {vocab_size} is smaller than the {self._used} ids this tokenizer uses")
        self.special_tokens = {"pad": PAD, "bos": BOS, "eos": EOS}
        self.sep = SEP

    @property
    def fitted(self) -> bool:
        raise NotImplementedError

    @property
    def _used(self) -> int:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return self._capacity if self._capacity is not None else self._used

    def _learn(self, graphs: Sequence[Graph], what: str = "") -> None:
        """Learn the node limit and label alphabets not given; refuse data that needs more ids than the capacity."""
        if self.max_nodes is None:
            self.max_nodes = max(g.n for g in graphs)
        if self.node_labels is None and any(g.node_labels is not None for g in graphs):
            self.node_labels = sorted({x for g in graphs for x in g.node_labels or ()})
        if self.edge_labels is None and any(g.edge_labels is not None for g in graphs):
            self.edge_labels = sorted({x for g in graphs for x in g.edge_labels or ()})
        if self._capacity is not None and self._capacity < self._used:
            raise ConfigError(f"the data needs {self._used} ids{what} but vocab_size is {self._capacity}: "
                              f"build the tokenizer with a larger vocab_size")
        for index, graph in enumerate(graphs):
            self._encode_checked(graph, f"graph {index}")

    def encode(self, item: Any) -> list[int]:
        return self._encode_checked(as_graph(item), "the graph")

    def _encode_checked(self, graph: Graph, what: str) -> list[int]:
        raise NotImplementedError
