"""``graphs/bfs``: structural rules for BFS adjacency sequences, applied token by token.

Always enforced (the sequence's own grammar): a neighbour offset ``d`` of node ``i``
satisfies ``1 <= d <= min(i, bandwidth)`` (never at or after the current node, never
outside the bandwidth), offsets of one node strictly increase (no multi-edges), a
labelled node starts with its label and every labelled edge is followed by its label.

Optional rules:

- ``connected``: every node after the first has at least one earlier neighbour, so
  the graph is connected by construction;
- ``tree``: exactly one earlier neighbour per node after the first (connected and acyclic);
- ``max_degree``: no node gets more neighbours (a node is started only if some
  earlier node within the bandwidth can still take an edge; while fewer than
  ``min_nodes`` nodes exist, each keeps one edge free for the next node, so the
  walk never dead-ends);
- ``min_nodes`` / ``max_nodes``: the node count range (``eos`` only from ``min_nodes``
  on, forced at ``max_nodes``).

Build one for a tokenizer with :meth:`BfsConstraint.for_tokenizer`; the constructor
takes plain numbers only, so the constraint saves with a pipeline's config.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from arkit import ConfigError

__all__ = ["BfsConstraint"]

_PAD, _BOS, _EOS, _SEP, _FIRST = 0, 1, 2, 3, 4


class _State(NamedTuple):
    i: int  # the node being written (= nodes finished)
    started: bool  # node i has a token already
    labelled: bool  # node i's label is written
    last_d: int  # the last offset of node i (0: none)
    back: int  # earlier neighbours of node i so far
    edge_label_due: bool  # an edge label must come next
    degrees: tuple[int, ...]  # degree of every node so far (node i included)
    done: bool


class BfsConstraint:
    """Valid BFS adjacency sequences of ``graphs/bfs-adjacency`` under optional structural rules.

    ``bandwidth`` and the label counts must be the tokenizer's (defaults: the default
    tokenizer's 8 and none); ``vocab_size`` defaults to the ids they use.
    """

    def __init__(
        self,
        *,
        bandwidth: int = 8,
        vocab_size: int | None = None,
        node_labels: int = 0,
        edge_labels: int = 0,
        connected: bool = True,
        tree: bool = False,
        max_degree: int | None = None,
        min_nodes: int = 1,
        max_nodes: int | None = None,
    ) -> None:
        if not isinstance(bandwidth, int) or bandwidth < 1:
            raise ConfigError(f"bandwidth must be an int >= 1, got {bandwidth!r}")
        vocab_size = _FIRST + bandwidth + node_labels + edge_labels if vocab_size is None else vocab_size
        if vocab_size < _FIRST + bandwidth + node_labels + edge_labels:
            raise ConfigError(f"vocab_size {vocab_size} is too small for bandwidth {bandwidth} and the labels")
        if max_degree is not None and max_degree < 1:
            raise ConfigError(f"max_degree must be >= 1 (or None), got {max_degree}")
        if max_degree == 1 and (connected or tree) and min_nodes > 2:
            raise ConfigError(f"a connected graph with max_degree 1 has at most 2 nodes, but min_nodes is {min_nodes}")
        if min_nodes < 1 or (max_nodes is not None and max_nodes < min_nodes):
            raise ConfigError(f"need 1 <= min_nodes <= max_nodes, got {min_nodes} and {max_nodes}")
        self.bandwidth, self.vocab_size = bandwidth, vocab_size
        self.node_labels, self.edge_labels = node_labels, edge_labels
        self.connected, self.tree = connected or tree, tree
        self.max_degree, self.min_nodes, self.max_nodes = max_degree, min_nodes, max_nodes
        self._first_node_label = _FIRST + bandwidth
        self._first_edge_label = self._first_node_label + node_labels

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, **rules: Any) -> BfsConstraint:
        """The constraint for a fitted :class:`~arkit_graphs.BfsAdjacencyTokenizer`; ``max_nodes`` defaults to its."""
        rules.setdefault("max_nodes", tokenizer.max_nodes)
        return cls(bandwidth=tokenizer.bandwidth, vocab_size=tokenizer.vocab_size,
                   node_labels=len(tokenizer.node_labels or ()), edge_labels=len(tokenizer.edge_labels or ()), **rules)

    @property
    def config(self) -> dict[str, Any]:
        return {"bandwidth": self.bandwidth, "vocab_size": self.vocab_size, "node_labels": self.node_labels,
                "edge_labels": self.edge_labels, "connected": self.connected, "tree": self.tree,
                "max_degree": self.max_degree, "min_nodes": self.min_nodes, "max_nodes": self.max_nodes}

    # -- the constraint protocol ---------------------------------------------------------
    def start(self) -> _State:
        return _State(0, False, False, 0, 0, False, (0,), False)

    def complete(self, state: _State) -> bool:
        return state.done or (not state.started and state.i >= self.min_nodes)

    def _room(self, degrees: tuple[int, ...], j: int) -> bool:
        return self.max_degree is None or degrees[j] < self.max_degree

    def _can_start_node(self, state: _State) -> bool:
        """Whether node ``i`` can be written at all (a node limit, or a connected node with no partner left)."""
        i = state.i
        if self.max_nodes is not None and i >= self.max_nodes:
            return False
        if i == 0 or not self.connected:
            return True
        return any(self._room(state.degrees, i - d) for d in range(1, min(i, self.bandwidth) + 1))

    def allowed(self, state: _State) -> torch.Tensor:
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        if state.done:
            return mask
        if state.edge_label_due:
            mask[self._first_edge_label:self._first_edge_label + self.edge_labels] = True
            return mask
        i = state.i
        if not state.started:
            if i >= self.min_nodes:
                mask[_EOS] = True
            if not self._can_start_node(state):
                return mask
            if self.node_labels:
                mask[self._first_node_label:self._first_node_label + self.node_labels] = True
                return mask
        # inside node i (its label written, if labelled): offsets or SEP
        own_room = self._room(state.degrees, i) and not (self.tree and state.back >= 1)
        if own_room and self.max_degree is not None and self.connected and i + 1 < self.min_nodes:
            # keep one edge free on node i for node i + 1 (offset 1), so min_nodes stays reachable
            own_room = state.degrees[i] < self.max_degree - 1
        if own_room:
            for d in range(state.last_d + 1, min(i, self.bandwidth) + 1):
                if self._room(state.degrees, i - d):
                    mask[_FIRST + d - 1] = True
        if i == 0 or not self.connected or state.back >= 1:
            mask[_SEP] = True
        return mask

    def advance(self, state: _State, token: int) -> _State:
        token = int(token)
        i = state.i
        if token == _EOS:
            return state._replace(done=True)
        if token == _SEP:
            return _State(i + 1, False, False, 0, 0, False, state.degrees + (0,), False)
        if _FIRST <= token < self._first_node_label:
            d = token - _FIRST + 1
            degrees = list(state.degrees)
            degrees[i] += 1
            degrees[i - d] += 1
            return state._replace(started=True, last_d=d, back=state.back + 1, degrees=tuple(degrees),
                                  edge_label_due=self.edge_labels > 0)
        if self._first_node_label <= token < self._first_edge_label:
            return state._replace(started=True, labelled=True)
        return state._replace(edge_label_due=False)
