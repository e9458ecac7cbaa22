"""``shapes/face-coords``: MeshXL-style direct coordinate tokens, nine per triangle.

    [class]  z y x  z y x  z y x   z y x  z y x  z y x  ...  (eos)

Each triangle is written as its three corners' quantised coordinates (``bits`` bits, ids
``0..2**bits - 1``), z then y then x per corner. A face starts at its lowest corner in
(z, y, x) order, rotated so the winding is kept, and faces are sorted by their nine
coordinates. There are no vertex indices: decoding merges corners that share a point.
The sequence is longer than ``shapes/polygen``'s (108 ids for a box) but needs no pointer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import arkit

from ._layout import _Layout, _positive
from .polygen import quantise
from .shape import Mesh, as_shape, check_mesh

__all__ = ["FaceCoordsTokenizer"]


class FaceCoordsTokenizer:
    """Triangles as nine quantised coordinates each, sorted (MeshXL / MeshGPT order), with a class prefix."""

    lossless = False

    def __init__(self, *, bits: int = 7, max_faces: int = 128, num_classes: int = 4) -> None:
        self.bits = _positive("bits", bits)
        if bits > 10:
            raise arkit.ConfigError(f"bits must be at most 10 (1024 levels), got {bits}")
        self.max_faces = _positive("max_faces", max_faces)
        self.levels = 2**bits
        self._layout = _Layout(self.levels, [], num_classes)
        self.num_classes = self._layout.num_classes
        self.vocab_size = self._layout.vocab_size
        self.special_tokens = dict(self._layout.special_tokens)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"bits": self.bits, "max_faces": self.max_faces, "num_classes": self.num_classes}

    def faces(self, item: Any) -> np.ndarray:
        """The canonical faces of ``item``: ``[F, 3, 3]`` integer levels, corners as (z, y, x)."""
        mesh = as_shape(item).mesh
        check_mesh(mesh)
        q = quantise(np.asarray(mesh.vertices), self.bits)[:, ::-1]  # (z, y, x)
        tris = q[np.asarray(mesh.faces)]
        if len(tris) > self.max_faces:
            raise arkit.InputError(f"the mesh has {len(tris)} triangles, more than this tokenizer's "
                                   f"max_faces={self.max_faces}")
        out = []
        for t in tris:
            corners = [tuple(int(c) for c in p) for p in t]
            if len(set(corners)) < 3:
                raise arkit.InputError(f"a face collapses when coordinates are quantised to {self.bits} bits (corners "
                                       "closer than one step): scale the shape up or use more bits")
            k = corners.index(min(corners))
            out.append(corners[k:] + corners[:k])
        out.sort()
        return np.asarray(out, dtype=np.int64).reshape(-1, 3, 3)

    def encode(self, item: Any) -> list[int]:
        if self._layout.is_prompt(item):
            return self._layout.prefix(item)
        shape = as_shape(item)
        return self._layout.prefix(shape.label) + self.faces(shape).reshape(-1).tolist()

    def decode(self, ids: Sequence[int]) -> Any:
        """A ``trimesh.Trimesh`` (equal by value) with corners merged by position; an unfinished last face is dropped."""
        label, rest = self._layout.split(ids)
        coords = [i for i in rest if i < self.levels]
        coords = coords[: len(coords) // 9 * 9]
        zyx = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
        xyz = zyx[:, ::-1] / (self.levels - 1)
        points, inverse = np.unique(xyz, axis=0, return_inverse=True) if len(xyz) else (np.zeros((0, 3)), np.zeros(0))
        faces = np.asarray(inverse, dtype=np.int64).reshape(-1, 3)
        return Mesh(points, faces, label=label)
