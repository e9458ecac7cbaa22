"""``shapes/polygen``: a mesh as PolyGen's two sequences, vertices then faces, in one token stream.

    [class]  z y x  z y x ...  vertices_end  i j k face  i j k l face ...  (eos)

- Vertices: coordinates in the unit cube quantised to ``bits`` bits (``2**bits`` levels,
  ids ``0..2**bits - 1``), sorted by z, then y, then x; three ids per vertex.
- Faces: polygons (coplanar triangles merged, as PolyGen does: a box is 6 quads) as lists
  of vertex indices (ids ``2**bits + i``) closed by a ``face`` marker. Each face starts at
  its lowest index (rotated, so the winding is kept) and faces are sorted as index tuples.

Vertices that quantise to one point are merged; a face that collapses in the process is
an error (the shape is too fine for ``bits``), never silently dropped. Decoding returns a
``trimesh.Trimesh`` (:func:`~arkit_shapes.shape.Mesh`: polygons fanned into triangles, equal by value)
whose ``metadata`` holds ``label``,
``polygons``, ``index_errors`` (faces dropped because an index was out of range or
repeated, or the face had fewer than 3 corners: never with :class:`PolygenConstraint`) and
``unfinished_face`` (the ids ended inside a face, which is dropped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import arkit

from ._layout import _Layout, _positive
from .shape import Mesh, as_shape, check_mesh, polygons, triangulate

__all__ = ["PolygenTokenizer", "quantise"]


def quantise(vertices: np.ndarray, bits: int) -> np.ndarray:
    """Unit-cube coordinates as integer levels ``0..2**bits - 1`` (InputError outside the cube)."""
    v = np.asarray(vertices, dtype=np.float64)
    if not np.isfinite(v).all():
        raise arkit.InputError("vertex coordinates must be finite (found NaN or inf)")
    if v.size and (v.min() < -1e-6 or v.max() > 1 + 1e-6):
        raise arkit.InputError(f"vertex coordinates must lie in the unit cube [0, 1], found {v.min():.4g}..{v.max():.4g}: "
                               "normalise the mesh first (arkit_shapes.normalise)")
    top = 2**bits - 1
    return np.clip(np.rint(v * top), 0, top).astype(np.int64)


class PolygenTokenizer:
    """Vertices sorted z-y-x then faces as vertex-index lists (PolyGen), with a class prefix."""

    lossless = False

    def __init__(self, *, bits: int = 7, max_vertices: int = 32, max_face_size: int = 8, num_classes: int = 4,
                 merge_coplanar: bool = True) -> None:
        self.bits = _positive("bits", bits)
        if bits > 10:
            raise arkit.ConfigError(f"bits must be at most 10 (1024 levels), got {bits}")
        self.max_vertices = _positive("max_vertices", max_vertices, 3)
        self.max_face_size = _positive("max_face_size", max_face_size, 3)
        self.merge_coplanar = bool(merge_coplanar)
        self.levels = 2**bits
        self._layout = _Layout(self.levels + self.max_vertices, ["face", "vertices_end"], num_classes)
        self.num_classes = self._layout.num_classes
        self.vocab_size = self._layout.vocab_size
        self.special_tokens = dict(self._layout.special_tokens)
        self.markers = dict(self._layout.markers)
        """``face`` (closes a face) and ``vertices_end`` (closes the vertex list): structure ids, not specials."""

    @property
    def config(self) -> Mapping[str, Any]:
        return {"bits": self.bits, "max_vertices": self.max_vertices, "max_face_size": self.max_face_size,
                "num_classes": self.num_classes, "merge_coplanar": self.merge_coplanar}

    def class_id(self, label: int | None) -> int:
        """The prompt id of ``label`` (``None``: the null class)."""
        return self._layout.class_id(label)

    def index_id(self, i: int) -> int:
        """The id that points at vertex ``i``."""
        return self.levels + i

    def mesh_parts(self, item: Any) -> tuple[np.ndarray, list[list[int]]]:
        """The canonical quantised vertices ``[n, 3]`` (x, y, z levels, sorted z-y-x) and faces of ``item``."""
        shape = as_shape(item)
        mesh = shape.mesh
        check_mesh(mesh)
        faces = polygons(mesh, max_face_size=self.max_face_size) if self.merge_coplanar else \
            [[int(i) for i in f] for f in np.asarray(mesh.faces)]
        q = quantise(np.asarray(mesh.vertices), self.bits)
        used = sorted({i for f in faces for i in f})
        # merge vertices that share a quantised point; order the distinct points by (z, y, x)
        points, inverse = np.unique(q[used], axis=0, return_inverse=True)
        order = np.lexsort((points[:, 0], points[:, 1], points[:, 2]))
        rank = np.empty(len(order), dtype=np.int64)
        rank[order] = np.arange(len(order))
        new_index = {old: int(rank[inverse.reshape(-1)[k]]) for k, old in enumerate(used)}
        if len(points) > self.max_vertices:
            raise arkit.InputError(f"the mesh has {len(points)} vertices after quantisation, more than this tokenizer's "
                                   f"max_vertices={self.max_vertices}; simplify it or raise max_vertices")
        out: list[list[int]] = []
        for f in faces:
            g = [new_index[i] for i in f]
            if len(set(g)) != len(g):
                raise arkit.InputError(f"a face collapses when coordinates are quantised to {self.bits} bits (corners "
                                       "closer than one step): scale the shape up or use more bits")
            k = int(np.argmin(g))
            out.append(g[k:] + g[:k])
        out.sort()
        if any(a == b for a, b in zip(out, out[1:])):
            raise arkit.InputError("the mesh has the same face twice")
        return points[order], out

    def encode(self, item: Any) -> list[int]:
        if self._layout.is_prompt(item):
            return self._layout.prefix(item)
        shape = as_shape(item)
        vertices, faces = self.mesh_parts(shape)
        ids = self._layout.prefix(shape.label)
        ids += vertices[:, ::-1].reshape(-1).tolist()  # z, y, x per vertex
        ids.append(self.markers["vertices_end"])
        for f in faces:
            ids += [self.levels + i for i in f]
            ids.append(self.markers["face"])
        return ids

    def decode(self, ids: Sequence[int]) -> Any:
        label, rest = self._layout.split(ids)
        end = self.markers["vertices_end"]
        cut = rest.index(end) if end in rest else len(rest)
        coords = [i for i in rest[:cut] if i < self.levels]
        coords = coords[: len(coords) // 3 * 3]
        zyx = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
        vertices = zyx[:, ::-1] / (self.levels - 1)
        n = len(vertices)
        faces: list[list[int]] = []
        errors, current = 0, []
        for i in rest[cut + 1:]:
            if i == self.markers["face"]:
                ok = len(current) >= 3 and len(set(current)) == len(current) and all(0 <= j < n for j in current)
                faces.append(current) if ok else None
                errors += not ok
                current = []
            elif self.levels <= i < self.levels + self.max_vertices:
                current.append(i - self.levels)
        return Mesh(vertices, triangulate(faces), label=label, polygons=faces, index_errors=errors,
                    unfinished_face=bool(current))
