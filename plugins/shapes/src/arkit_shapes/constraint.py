"""``shapes/polygen``'s validity rules as a generation constraint.

What :class:`PolygenConstraint` guarantees for every generated row (whatever the model):

- vertices come in (z, y, x) triples in strictly increasing order (sorted, no duplicates),
  at least ``min_vertices`` and at most the tokenizer's ``max_vertices`` of them;
- a face's indices point only at vertices already generated, none twice in a face, each
  after the face's first (the lowest: canonical rotation), 3 to ``max_face_size`` of them;
- faces come in strictly increasing order as index tuples (canonical order, no repeats);
- ``eos`` only between faces, after at least one face.

So every sample decodes to a mesh without index errors. No choice leads to a dead end:
each allowed id leaves a way to finish (checked by a property test on random walks).
States are tuples (immutable), as the engine requires.

With ``closed=True`` the rule also asks for a closed, consistently wound surface:

- a directed edge ``(a, b)`` may be used by one face only (so an edge has at most one face
  on each side, wound opposite ways);
- a face may start at vertex ``f`` only while no open edge (one whose reverse is unused)
  lies entirely below ``f``: later faces start higher and could never close it, just as in
  a real closed mesh all faces at a vertex come before faces that start after it;
- a face index is allowed only if the face can still close within one more corner, and
  ``eos`` only once every edge has its reverse (or when no face can start any more, or the
  face budget is spent: the row then ends open rather than at a dead end).

Every real closed primitive satisfies both forms (tested).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

import arkit

from ._layout import _positive
from .polygen import PolygenTokenizer

__all__ = ["PolygenConstraint"]


class PolygenConstraint:
    """The PolyGen ordering and pointer rules over ``shapes/polygen`` ids (same config as the tokenizer)."""

    def __init__(self, *, bits: int = 7, max_vertices: int = 32, max_face_size: int = 8, num_classes: int = 4,
                 merge_coplanar: bool = True, min_vertices: int = 4, max_faces: int = 64, closed: bool = False) -> None:
        self.tokenizer = PolygenTokenizer(bits=bits, max_vertices=max_vertices, max_face_size=max_face_size,
                                          num_classes=num_classes, merge_coplanar=merge_coplanar)
        self.min_vertices = _positive("min_vertices", min_vertices, 3)
        if min_vertices > max_vertices:
            raise arkit.ConfigError(f"min_vertices={min_vertices} is more than max_vertices={max_vertices}")
        self.max_faces = _positive("max_faces", max_faces)
        if not isinstance(closed, bool):
            raise arkit.ConfigError(f"closed must be a bool, got {closed!r}")
        self.closed = closed
        t = self.tokenizer
        self.levels, self.max_face_size, self.max_vertices = t.levels, t.max_face_size, t.max_vertices
        self.face, self.vertices_end, self.eos = t.markers["face"], t.markers["vertices_end"], t.special_tokens["eos"]

    @classmethod
    def for_tokenizer(cls, tokenizer: PolygenTokenizer, **options: Any) -> PolygenConstraint:
        """The constraint over ``tokenizer``'s ids (``options``: ``min_vertices``, ``max_faces``, ``closed``)."""
        return cls(**tokenizer.config, **options)

    @property
    def config(self) -> Mapping[str, Any]:
        return {**self.tokenizer.config, "min_vertices": self.min_vertices, "max_faces": self.max_faces,
                "closed": self.closed}

    @property
    def max_tokens(self) -> int:
        """The longest row the constraint allows (eos included): a budget for ``max_new_tokens``."""
        return 3 * self.max_vertices + 1 + self.max_faces * (self.max_face_size + 1) + 1

    # -- states: ("v", n, prev, cur) | ("f", n, prev, cur, faces, edges) | ("end",) ---------
    # edges: the directed edges of the finished faces (closed=True only; empty otherwise)
    def start(self) -> tuple:
        return ("v", 0, None, ())

    def _rank(self, t: tuple[int, ...]) -> int:
        L = self.levels
        return (t[0] * L + t[1]) * L + t[2]

    def _coordinate_ok(self, n: int, prev: tuple[int, ...] | None, prefix: tuple[int, ...]) -> bool:
        """Some vertex with ``prefix`` is above ``prev`` and leaves room for the vertices still required."""
        top = self.levels - 1
        low = self._rank(prefix + (0,) * (3 - len(prefix)))
        high = self._rank(prefix + (top,) * (3 - len(prefix)))
        if prev is not None:
            low = max(low, self._rank(prev) + 1)
        need = max(0, self.min_vertices - (n + 1))
        return low <= min(high, self.levels**3 - 1 - need)

    def _greatest(self, n: int, face: tuple[int, ...]) -> tuple[int, ...]:
        """The greatest face (as a tuple) that starts with ``face``."""
        rest = [i for i in range(n - 1, face[0], -1) if i not in face]
        return face + tuple(rest[: self.max_face_size - len(face)])

    def _index_ok(self, n: int, prev: tuple[int, ...] | None, face: tuple[int, ...]) -> bool:
        free = n - 1 - face[0] - (len(face) - 1)  # indices above the first one not used yet
        if len(face) > self.max_face_size or free < 3 - len(face):
            return False
        return prev is None or self._greatest(n, face) > prev

    def allowed(self, state: tuple) -> torch.Tensor:
        """``BoolTensor[vocab_size]``: the ids :meth:`allowed_ids` lists."""
        mask = torch.zeros(self.tokenizer.vocab_size, dtype=torch.bool)
        mask[self.allowed_ids(state)] = True
        return mask

    def allowed_ids(self, state: tuple) -> list[int]:
        """The ids allowed after ``state``, ascending within each kind (coordinates, indices, markers, eos)."""
        if state[0] == "end":
            return []
        if state[0] == "v":
            _, n, prev, cur = state
            ids = []
            if not cur and n >= self.min_vertices:
                ids.append(self.vertices_end)
            if cur or n < self.max_vertices:
                ids += [v for v in range(self.levels) if self._coordinate_ok(n, prev, cur + (v,))]
            return ids
        _, n, prev, cur, count, edges = state
        if self.closed:
            return self._closed_ids(n, prev, cur, count, edges)
        base = self.levels
        if not cur:
            if count >= self.max_faces:
                return [self.eos]
            ids = [base + i for i in range(n) if self._index_ok(n, prev, (i,))]
            return ids + [self.eos] if count else ids
        ids = [base + i for i in range(cur[0] + 1, n) if i not in cur and self._index_ok(n, prev, cur + (i,))]
        if len(cur) >= 3 and (prev is None or cur > prev):
            ids.append(self.face)
        return ids

    # -- closed=True -------------------------------------------------------------------
    def _can_close(self, prev: tuple[int, ...] | None, face: tuple[int, ...], edges: frozenset) -> bool:
        return len(face) >= 3 and (face[-1], face[0]) not in edges and (prev is None or face > prev)

    def _closable(self, n: int, prev: tuple[int, ...] | None, face: tuple[int, ...], edges: frozenset) -> bool:
        """``face`` can be closed now or after one more corner."""
        if self._can_close(prev, face, edges):
            return True
        if len(face) >= self.max_face_size:
            return False
        last = face[-1]
        return any(self._can_close(prev, face + (j,), edges) for j in range(face[0] + 1, n)
                   if j not in face and (last, j) not in edges)

    def _closed_ids(self, n: int, prev: tuple[int, ...] | None, cur: tuple[int, ...], count: int,
                    edges: frozenset) -> list[int]:
        base = self.levels
        if cur:
            ids = [base + i for i in range(cur[0] + 1, n) if i not in cur and (cur[-1], i) not in edges
                   and len(cur) < self.max_face_size and self._closable(n, prev, cur + (i,), edges)]
            return ids + [self.face] if self._can_close(prev, cur, edges) else ids
        open_edges = [(a, b) for a, b in edges if (b, a) not in edges]
        if count >= self.max_faces:
            return [self.eos]
        bound = min((min(e) for e in open_edges), default=n)
        starts = [f for f in range(min(bound + 1, n - 2))
                  if any((f, a) not in edges and self._closable(n, prev, (f, a), edges) for a in range(f + 1, n))]
        ids = [base + f for f in starts]
        if count and (not open_edges or not starts):
            ids.append(self.eos)
        return ids

    def advance(self, state: tuple, token: int) -> tuple:
        token = int(token)
        if token == self.eos:
            return ("end",)
        if state[0] == "v":
            _, n, prev, cur = state
            if token == self.vertices_end:
                return ("f", n, None, (), 0, frozenset())
            cur = cur + (token,)
            return ("v", n + 1, cur, ()) if len(cur) == 3 else ("v", n, prev, cur)
        _, n, prev, cur, count, edges = state
        if token == self.face:
            if self.closed:
                edges = edges | {(cur[i], cur[(i + 1) % len(cur)]) for i in range(len(cur))}
            return ("f", n, cur, (), count + 1, edges)
        return ("f", n, prev, cur + (token - self.levels,), count, edges)

    def complete(self, state: tuple) -> bool:
        return state[0] == "end" or (state[0] == "f" and not state[3] and state[4] >= 1)
