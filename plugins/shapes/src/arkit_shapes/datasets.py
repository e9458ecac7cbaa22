"""Offline data: ``trimesh.creation`` primitives with random parameters and rotations.

Four classes with short PolyGen sequences (coplanar triangles merged into polygons; ids
per shape with the class prefix, before bos/eos):

==========  ===========================================  ========  =====================  ===
class       random parameters                            vertices  polygon faces          ids
==========  ===========================================  ========  =====================  ===
box         extents in [0.3, 1]^3                         8         6 quads                56
cone        radius [0.3, 0.6], height [0.4, 1.2],         7         hexagon + 6 triangles  54
            6 sections
cylinder    radius [0.3, 0.6], height [0.3, 1.2],         12        2 hexagons + 6 quads   82
            6 sections
sphere      icosphere (20 triangles) stretched by         12        20 triangles           118
            [0.6, 1] per axis
==========  ===========================================  ========  =====================  ===

:func:`make_primitive` also makes tori (6 x 4 sections, 24 vertices, 194 ids) with
``kind="torus"``, outside the classes the shipped models learned (a longer sequence than a
2-core CPU budget trains well).

Each shape is rotated about the vertical (z) axis by a random angle, then normalised to
the unit cube (centred, longest side 1). Shape ``i`` of a split is drawn from its own
generator ``numpy.random.default_rng([seed, split, i])``: train and test come from
different streams of the same seed and never share a shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

import arkit

from .shape import Shape, normalise

__all__ = ["CLASSES", "ShapeSplit", "load_primitives", "make_primitive", "make_primitives"]

CLASSES: tuple[str, ...] = ("box", "cone", "cylinder", "sphere")
"""Class names; a shape's ``label`` is its index here."""


def make_primitive(label: int | None, rng: np.random.Generator, *, kind: str | None = None) -> Shape:
    """One random primitive of class ``label`` (an index into :data:`CLASSES`), normalised to the unit cube;
    ``kind="torus"`` (label ``None``) makes a torus instead."""
    import trimesh
    from trimesh import creation

    if kind == "torus":
        name = "torus"
    elif kind is not None:
        raise arkit.InputError(f"unknown kind {kind!r}: only 'torus' (the classes are made by label)")
    elif isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= label < len(CLASSES):
        raise arkit.InputError(f"unknown class label {label!r}: labels are 0..{len(CLASSES) - 1} ({', '.join(CLASSES)})")
    else:
        name = CLASSES[int(label)]
    if name == "box":
        mesh = creation.box(extents=rng.uniform(0.3, 1.0, size=3))
    elif name == "cone":
        mesh = creation.cone(radius=rng.uniform(0.3, 0.6), height=rng.uniform(0.4, 1.2), sections=6)
    elif name == "cylinder":
        mesh = creation.cylinder(radius=rng.uniform(0.3, 0.6), height=rng.uniform(0.3, 1.2), sections=6)
    elif name == "sphere":
        mesh = creation.icosphere(subdivisions=0)
        mesh.apply_scale(rng.uniform(0.6, 1.0, size=3))
    else:
        mesh = creation.torus(major_radius=1.0, minor_radius=rng.uniform(0.2, 0.45), major_sections=6, minor_sections=4)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(angle, [0.0, 0.0, 1.0]))
    return Shape(mesh=normalise(mesh), label=None if name == "torus" else int(label))  # type: ignore[arg-type]


def make_primitives(n: int, *, seed: int = 0, split: int = 0, classes: Sequence[int] | None = None) -> list[Shape]:
    """``n`` shapes cycling through ``classes`` (default: all), shape ``i`` from ``default_rng([seed, split, i])``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise arkit.ConfigError(f"n must be an integer >= 0, got {n!r}")
    labels = list(range(len(CLASSES)) if classes is None else classes)
    if not labels:
        raise arkit.ConfigError("classes must name at least one class")
    return [make_primitive(labels[i % len(labels)], np.random.default_rng([seed, split, i])) for i in range(n)]


@attrs.frozen(kw_only=True)
class ShapeSplit:
    """Train and test shapes drawn from different streams of one seed."""

    train: tuple[Shape, ...]
    test: tuple[Shape, ...]


def load_primitives(n_train: int = 2000, n_test: int = 100, *, seed: int = 0) -> ShapeSplit:
    """The primitives data set: ``n_train`` training and ``n_test`` test shapes, balanced over :data:`CLASSES`."""
    return ShapeSplit(train=tuple(make_primitives(n_train, seed=seed, split=0)),
                      test=tuple(make_primitives(n_test, seed=seed, split=1)))
