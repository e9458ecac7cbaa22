"""Chamfer, COV, MMD, 1-NNA and the copy rate against hand-computed cases; validity checks; point features."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import trimesh

import arkit
from arkit_shapes import make_primitive, normalise
from arkit_shapes.metrics import (chamfer, chamfer_matrix, copy_rate, coverage_mmd, one_nna, point_features,
                                  surface_points, validity)


def test_chamfer_by_hand():
    a = np.array([[0.0, 0, 0], [1, 0, 0]])
    b = np.array([[0.0, 0, 0], [0, 2, 0]])
    # a -> b: 0 and 1 (mean 0.5); b -> a: 0 and 2 (mean 1.0)
    assert chamfer(a, b) == pytest.approx(1.5)
    assert chamfer(a, a) == 0.0
    m = chamfer_matrix([a, b, a + 1])
    assert m.shape == (3, 3) and np.allclose(m, m.T) and np.allclose(np.diag(m), 0)
    # a -> a + 1: (0,0,0) is sqrt 3 from (1,1,1), (1,0,0) sqrt 2 from it; the way back mirrors it
    assert m[0, 1] == pytest.approx(1.5) and m[0, 2] == pytest.approx(np.sqrt(3.0) + np.sqrt(2.0))
    with pytest.raises(arkit.InputError):
        chamfer(np.zeros((0, 3)), a)
    with pytest.raises(arkit.InputError):
        chamfer(np.array([[np.nan, 0, 0]]), a)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_chamfer_is_symmetric_and_translation_equivariant(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.random((20, 3)), rng.random((15, 3))
    shift = rng.normal(size=3)
    assert chamfer(a, b) == pytest.approx(chamfer(b, a))
    assert chamfer(a + shift, b + shift) == pytest.approx(chamfer(a, b))
    assert chamfer(a, b) >= 0


def test_coverage_and_mmd_by_hand():
    # generated 0 and 1 both match reference 0; generated 2 matches reference 2; reference 1 is nobody's nearest
    d = np.array([[0.1, 0.5, 0.9],
                  [0.2, 0.4, 0.8],
                  [0.7, 0.6, 0.3]])
    cov, mmd = coverage_mmd(d)
    assert cov == pytest.approx(2 / 3)
    assert mmd == pytest.approx((0.1 + 0.4 + 0.3) / 3)


def test_one_nna_by_hand():
    # two well separated clusters: every leave-one-out neighbour has its own label -> 1.0
    far = np.full((2, 2), 10.0)
    near = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert one_nna(near, near, far) == 1.0
    # each generated shape has a reference twin 0.1 away, far from everything else: every neighbour is in the
    # other set -> 0.0
    apart = np.array([[0.0, 5.0], [5.0, 0.0]])
    assert one_nna(apart, apart, np.array([[0.1, 5.0], [5.0, 0.1]])) == 0.0
    with pytest.raises(arkit.InputError):
        one_nna(near, near, np.zeros((3, 2)))


def test_copy_rate_by_hand():
    d_test = np.array([[0.5, 0.9], [0.4, 0.8], [0.6, 0.7], [0.3, 0.9]])  # nearest: 0.5 0.4 0.6 0.3
    d_gen = np.array([[0.1, 0.2], [0.35, 0.9], [0.8, 0.9]])               # nearest: 0.1 0.35 0.8
    rate, threshold = copy_rate(d_gen, d_test, quantile=0.0)
    assert threshold == pytest.approx(0.3) and rate == pytest.approx(1 / 3)


def test_validity_flags():
    box = normalise(trimesh.creation.box())
    assert validity(box) == {"watertight": True, "winding_consistent": True, "nondegenerate": True, "valid": True}
    open_box = trimesh.Trimesh(vertices=box.vertices, faces=box.faces[:-2], process=False)
    assert not validity(open_box)["watertight"] and not validity(open_box)["valid"]
    flat = trimesh.Trimesh(vertices=[[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], faces=[[0, 1, 2], [0, 1, 3]],
                           process=False)
    assert not validity(flat)["nondegenerate"]
    assert validity(trimesh.Trimesh())["valid"] is False and surface_points(trimesh.Trimesh()) is None


def test_point_features_ignore_rotation_about_z():
    shape = make_primitive(0, np.random.default_rng(5))
    turned = shape.mesh.copy()
    turned.apply_transform(trimesh.transformations.rotation_matrix(1.1, [0, 0, 1], point=[0.5, 0.5, 0.5]))
    a = point_features(surface_points(shape.mesh, 2000, seed=0))
    b = point_features(surface_points(turned, 2000, seed=0))
    assert a.shape == (25,) and np.all(np.isfinite(a))
    assert np.allclose(a, b, atol=0.06)  # the same solid, sampled differently
