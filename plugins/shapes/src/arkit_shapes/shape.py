"""A labelled 3D shape, and the mesh operations every tokenizer shares.

A :class:`Shape` is a ``trimesh.Trimesh`` in the unit cube with an optional class label
(an index into :data:`~arkit_shapes.datasets.CLASSES`). Tokenizers also accept a bare
``Trimesh`` (no label).

- :func:`check_mesh` rejects what no tokenizer can represent: empty meshes, NaN or
  infinite coordinates, open or non-manifold surfaces. Errors name the shape's index
  when the caller gives it (:func:`check_shapes`).
- :func:`polygons` merges coplanar neighbouring triangles into polygons (a box becomes 6
  quads) with the winding kept, PolyGen's n-gon faces; :func:`triangulate` fans them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

import arkit

__all__ = ["Mesh", "Shape", "as_shape", "check_mesh", "check_shapes", "normalise", "polygons", "triangulate"]


@attrs.frozen(kw_only=True, eq=False)
class Shape:
    """A triangle mesh with an optional class label."""

    mesh: Any
    """A ``trimesh.Trimesh``."""
    label: int | None = None


def _mesh_class() -> type:
    import trimesh

    class Mesh(trimesh.Trimesh):  # type: ignore[misc]
        """A decoded ``trimesh.Trimesh`` that compares by value: same vertices, faces and ``metadata['label']``."""

        def __eq__(self, other: object) -> bool:
            if not isinstance(other, trimesh.Trimesh):
                return NotImplemented
            return (np.array_equal(self.vertices, other.vertices) and np.array_equal(self.faces, other.faces)
                    and self.metadata.get("label") == other.metadata.get("label"))

        __hash__ = trimesh.Trimesh.__hash__

    return Mesh


def Mesh(vertices: Any, faces: Any, *, label: int | None = None, **metadata: Any) -> Any:  # noqa: N802
    """A ``trimesh.Trimesh`` (unprocessed: vertices and faces kept as given) that compares by value, with
    ``metadata['label']`` and ``metadata``; what the tokenizers decode to."""
    global _MESH
    if _MESH is None:
        _MESH = _mesh_class()
    mesh = _MESH(vertices=np.asarray(vertices, dtype=np.float64).reshape(-1, 3),
                 faces=np.asarray(faces, dtype=np.int64).reshape(-1, 3), process=False)
    mesh.metadata.update(label=label, **metadata)
    return mesh


_MESH: Any = None


def as_shape(item: Any) -> Shape:
    """``item`` as a :class:`Shape`: a Shape as is, a ``Trimesh`` without a label."""
    import trimesh

    if isinstance(item, Shape):
        return item
    if isinstance(item, trimesh.Trimesh):
        return Shape(mesh=item, label=None)
    raise arkit.InputError(f"expected an arkit_shapes.Shape or a trimesh.Trimesh, got {type(item).__name__}")


def _where(index: int | None) -> str:
    return f"shape {index}: " if index is not None else ""


def check_mesh(mesh: Any, *, index: int | None = None, watertight: bool = True) -> None:
    """Raise :class:`arkit.InputError` for an empty mesh, non-finite coordinates or (``watertight``) an open or
    non-manifold surface; ``index`` is named in the message."""
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces)
    if len(vertices) == 0 or len(faces) == 0:
        raise arkit.InputError(f"{_where(index)}the mesh is empty ({len(vertices)} vertices, {len(faces)} faces)")
    if not np.isfinite(vertices).all():
        raise arkit.InputError(f"{_where(index)}the mesh has NaN or infinite vertex coordinates")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise arkit.InputError(f"{_where(index)}a face points at vertex {int(faces.max())} of {len(vertices)}")
    if watertight and not mesh.is_watertight:
        raise arkit.InputError(f"{_where(index)}the mesh is open or non-manifold (an edge is not shared by exactly "
                               "two faces); repair it first (trimesh.repair.fill_holes) or drop it")


def check_shapes(shapes: Sequence[Any], *, num_classes: int | None = None) -> list[Shape]:
    """Every item as a checked :class:`Shape`; the first bad one raises an InputError naming its index."""
    out = []
    for i, item in enumerate(shapes):
        try:
            shape = as_shape(item)
        except arkit.InputError as err:
            raise arkit.InputError(f"shape {i}: {err}") from None
        check_mesh(shape.mesh, index=i)
        if shape.label is not None and num_classes is not None and not 0 <= shape.label < num_classes:
            raise arkit.InputError(f"shape {i}: unknown class label {shape.label!r}; labels are 0..{num_classes - 1}")
        out.append(shape)
    return out


def normalise(mesh: Any) -> Any:
    """A copy of ``mesh`` centred in the unit cube, its longest side scaled to 1."""
    out = mesh.copy()
    extent = float(np.max(out.extents))
    if not np.isfinite(extent) or extent <= 0:
        raise arkit.InputError("cannot normalise a mesh with no extent (all vertices at one point)")
    out.apply_translation(-out.bounds.mean(axis=0))
    out.apply_scale(1.0 / extent)
    out.apply_translation([0.5, 0.5, 0.5])
    return out


def _loop(triangles: np.ndarray) -> list[int] | None:
    """The boundary of a patch of consistently wound triangles as one ordered vertex loop (None if not one loop)."""
    directed = {(int(a), int(b)) for t in triangles for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
    boundary = {a: b for a, b in directed if (b, a) not in directed}
    if len(boundary) < 3 or len(set(boundary.values())) != len(boundary):
        return None
    start = min(boundary)
    loop = [start]
    while (nxt := boundary[loop[-1]]) != start:
        if len(loop) > len(boundary):
            return None
        loop.append(nxt)
    return loop if len(loop) == len(boundary) else None


def polygons(mesh: Any, *, max_face_size: int = 8) -> list[list[int]]:
    """The faces of ``mesh`` with coplanar neighbours merged (trimesh's facets), each wound like its triangles.

    A facet whose boundary is not a single loop, or has more than ``max_face_size`` corners, stays triangles.
    Vertices inside a merged facet (a cap's centre) are no longer referenced.
    """
    faces = np.asarray(mesh.faces)
    used = np.zeros(len(faces), dtype=bool)
    out: list[list[int]] = []
    for facet in mesh.facets:
        loop = _loop(faces[facet])
        if loop is not None and len(loop) <= max_face_size:
            out.append(loop)
            used[facet] = True
    out += [[int(i) for i in f] for f in faces[~used]]
    return out


def triangulate(faces: Sequence[Sequence[int]]) -> np.ndarray:
    """Polygons (vertex index lists, >= 3 each) as a fan of triangles from each one's first corner."""
    tris = [(f[0], f[i], f[i + 1]) for f in faces for i in range(1, len(f) - 1)]
    return np.asarray(tris, dtype=np.int64).reshape(-1, 3)
