"""Tokenizer round trips on primitives (vertices within half a step, octree exact), the contract suite, bad input."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import trimesh

import arkit
from arkit.testing import TokenizerContract
from arkit_shapes import (CLASSES, FaceCoordsTokenizer, OctreeTokenizer, PolygenTokenizer, Shape, check_shapes,
                          make_primitive, make_primitives, normalise, voxelise)

_SHAPES = make_primitives(8, seed=11)


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each row of ``a`` the distance (max norm) to the closest row of ``b``."""
    return np.abs(a[:, None, :] - b[None, :, :]).max(-1).min(1)


@pytest.mark.parametrize("bits", [5, 7, 8])
def test_polygen_round_trip_keeps_vertices_within_half_a_step_and_the_solid(primitives, bits):
    tok = PolygenTokenizer(bits=bits)
    step = 1 / (2**bits - 1)
    for shape in primitives:
        mesh = tok.decode(tok.encode(shape))
        original = np.asarray(shape.mesh.vertices)
        # every decoded vertex is an original corner moved by at most half a step (a cap's centre, inside a merged
        # polygon, is no longer needed)
        assert _nearest(np.asarray(mesh.vertices), original).max() <= step / 2 + 1e-9
        assert mesh.metadata["label"] == shape.label and mesh.metadata["index_errors"] == 0
        assert mesh.is_watertight and mesh.is_winding_consistent
        assert mesh.volume == pytest.approx(shape.mesh.volume, rel=0.05 * 2 ** (7 - bits) + 0.02)


def test_polygen_sequence_layout(primitives):
    tok = PolygenTokenizer()
    box = next(s for s in primitives if CLASSES[s.label] == "box")
    ids = tok.encode(box)
    assert ids[0] == tok.class_id(box.label)
    end = ids.index(tok.markers["vertices_end"])
    assert end == 1 + 8 * 3  # eight corners, z y x each
    zyx = [tuple(ids[i:i + 3]) for i in range(1, end, 3)]
    assert zyx == sorted(zyx) and len(set(zyx)) == 8
    faces = ids[end + 1:]
    assert faces.count(tok.markers["face"]) == 6 and len(faces) == 6 * 5  # six quads, each closed by a marker
    assert tok.encode(2) == [tok.class_id(2)] and tok.encode(None) == [tok.special_tokens["null"]]


def test_face_coords_round_trip(primitives):
    tok = FaceCoordsTokenizer()
    for shape in primitives:
        ids = tok.encode(shape)
        assert len(ids) == 1 + 9 * len(shape.mesh.faces)
        mesh = tok.decode(ids)
        assert _nearest(np.asarray(mesh.vertices), np.asarray(shape.mesh.vertices)).max() <= 0.5 / 127 + 1e-9
        assert mesh.is_watertight and mesh.is_winding_consistent and mesh.metadata["label"] == shape.label


def test_octree_round_trip_is_exact_and_compresses(primitives):
    tok = OctreeTokenizer()
    for shape in primitives:
        voxels = voxelise(shape)
        ids = tok.encode(voxels)
        assert tok.decode(ids) == voxels
        levels = tok.levels(voxels)
        assert len(levels[0]) == 1 and [len(level) for level in levels[1:]] == [
            sum(bin(m).count("1") for m in level) for level in levels[:-1]]  # one node per set bit of the level above
        assert sum(len(level) for level in levels) == len(ids) - 1
        compression = tok.compression(voxels)
        assert compression["ratio_tokens"] >= 4096 / (1 + 8 + 64 + 512)  # the leaf masks pack 8 voxels a token
        assert compression["ratio_bits"] == pytest.approx(compression["ratio_tokens"] / 8)
        surface = voxels.to_mesh()
        assert surface.is_watertight and surface.volume > 0


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.02, 0.6))
def test_octree_is_lossless_on_any_grid(seed, density):
    tok = OctreeTokenizer(resolution=8)
    grid = np.random.default_rng(seed).random((8, 8, 8)) < density
    grid[0, 0, 0] = True  # not empty
    out = tok.decode(tok.encode(grid))
    assert np.array_equal(out.grid, grid)


def test_tokenizers_are_registered_and_rebuild_from_config():
    for name, cls in [("shapes/polygen", PolygenTokenizer), ("shapes/face-coords", FaceCoordsTokenizer),
                      ("shapes/octree", OctreeTokenizer)]:
        tok = arkit.create("tokenizer", name)
        assert isinstance(tok, cls)
        assert type(tok)(**tok.config).config == tok.config


class TestPolygenContract(TokenizerContract):
    component = "shapes/polygen"
    items = st.sampled_from(_SHAPES)
    invalid_items = st.sampled_from(["box", 7, -1, 1.5])


class TestFaceCoordsContract(TokenizerContract):
    component = "shapes/face-coords"
    items = st.sampled_from(_SHAPES)


class TestOctreeContract(TokenizerContract):
    component = "shapes/octree"
    items = st.sampled_from([voxelise(s) for s in _SHAPES[:4]])
    max_examples = 10


def _open_box() -> trimesh.Trimesh:
    box = normalise(trimesh.creation.box())
    return trimesh.Trimesh(vertices=box.vertices, faces=box.faces[:-1], process=False)


@pytest.mark.parametrize("bad, message", [
    (lambda: trimesh.Trimesh(), "empty"),
    (lambda: trimesh.Trimesh(vertices=[[np.nan, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]],
                             faces=[[0, 1, 2], [0, 2, 3], [0, 3, 1], [1, 3, 2]], process=False), "NaN"),
    (_open_box, "non-manifold"),
    (lambda: Shape(mesh=normalise(trimesh.creation.box()), label=9), "unknown class label 9"),
])
def test_bad_shapes_name_their_index(bad, message):
    shapes = [make_primitive(0, np.random.default_rng(0)), bad()]
    with pytest.raises(arkit.InputError, match=f"shape 1: .*{message}"):
        check_shapes(shapes, num_classes=len(CLASSES))


def test_too_many_vertices_and_unnormalised_meshes_are_rejected():
    sphere = Shape(mesh=normalise(trimesh.creation.icosphere(subdivisions=2)), label=3)
    with pytest.raises(arkit.InputError, match="max_vertices=32"):
        PolygenTokenizer().encode(sphere)
    with pytest.raises(arkit.InputError, match="unit cube"):
        PolygenTokenizer().encode(trimesh.creation.box(extents=(3, 3, 3)))
    with pytest.raises(arkit.InputError, match="unknown class label 4"):
        PolygenTokenizer().encode(4)
    with pytest.raises(arkit.InputError, match="empty"):
        OctreeTokenizer().encode(np.zeros((16, 16, 16), dtype=bool))
    with pytest.raises(arkit.ConfigError):
        OctreeTokenizer(resolution=12)
