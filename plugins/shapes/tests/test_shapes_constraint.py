"""The PolyGen constraint: random walks never dead-end and always decode without index errors; real shapes pass;
constrained sampling from a random model decodes every row; the registry's constraint contract."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.testing import ConstraintContract
from arkit_shapes import PolygenConstraint, PolygenTokenizer, sample_meshes
from arkit_shapes.training import polygen_pipeline


def walk(constraint: PolygenConstraint, rng: random.Random, end_bias: float) -> tuple[list[int], tuple]:
    """A random path through the constraint until eos (and the state before it); structural ids are picked with
    probability ``end_bias``."""
    state, ids = constraint.start(), []
    while True:
        allowed = constraint.allowed_ids(state)
        assert allowed, f"dead end after {ids}"
        assert constraint.allowed(state).nonzero().flatten().tolist() == sorted(allowed)
        closing = [t for t in allowed if t in (constraint.face, constraint.vertices_end, constraint.eos)]
        token = rng.choice(closing) if closing and rng.random() < end_bias else rng.choice(allowed)
        ids.append(token)
        if token == constraint.eos:
            assert constraint.complete(constraint.advance(state, token))
            return ids, state
        state = constraint.advance(state, token)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), bits=st.sampled_from([2, 3, 7]), max_vertices=st.sampled_from([4, 5, 9, 32]),
       max_face_size=st.sampled_from([3, 4, 8]), end_bias=st.sampled_from([0.05, 0.3, 0.8]), closed=st.booleans())
def test_every_walk_decodes_without_index_errors(seed, bits, max_vertices, max_face_size, end_bias, closed):
    constraint = PolygenConstraint(bits=bits, max_vertices=max_vertices, max_face_size=max_face_size, max_faces=12,
                                   closed=closed)
    ids, last = walk(constraint, random.Random(seed), end_bias)
    assert len(ids) <= constraint.max_tokens
    mesh = constraint.tokenizer.decode(ids)
    assert mesh.metadata["index_errors"] == 0
    polygons = mesh.metadata["polygons"]
    assert 1 <= len(polygons) <= 12 and len(mesh.vertices) >= 4
    assert polygons == sorted(polygons) and len({tuple(p) for p in polygons}) == len(polygons)
    for face in polygons:
        assert 3 <= len(face) <= max_face_size and face[0] == min(face) and len(set(face)) == len(face)
        assert max(face) < len(mesh.vertices)
    zyx = [tuple(v) for v in mesh.vertices[:, ::-1]]
    assert zyx == sorted(zyx) and len(set(zyx)) == len(zyx)
    if closed:
        edges = [(f[i], f[(i + 1) % len(f)]) for f in polygons for i in range(len(f))]
        assert len(set(edges)) == len(edges)  # a directed edge serves one face
        if not all((b, a) in edges for a, b in edges):  # ended open: only because no face could start any more
            assert constraint.allowed_ids(last) == [constraint.eos]


@pytest.mark.parametrize("closed", [False, True])
def test_real_shapes_satisfy_the_constraint(primitives, closed):
    tok = PolygenTokenizer()
    constraint = PolygenConstraint.for_tokenizer(tok, closed=closed)
    for shape in primitives:
        state = constraint.start()
        for i in tok.encode(shape)[1:]:  # the class id is the prompt, not generated
            assert i in constraint.allowed_ids(state)
            state = constraint.advance(state, i)
        assert constraint.complete(state) and tok.special_tokens["eos"] in constraint.allowed_ids(state)


def test_constrained_samples_from_a_random_model_all_decode():
    pipe = polygen_pipeline(d_model=32, n_layers=1, n_heads=2, max_seq_len=320)
    out = sample_meshes(pipe, [0, 1, 2, 3, None, None], seed=0, guidance_scale=1.5)
    assert all(m.metadata["index_errors"] == 0 for m in out.meshes)
    constraint = PolygenConstraint.for_tokenizer(pipe.tokenizer)
    for seq in out.sequences:  # the engine kept every token inside the constraint
        state = constraint.start()
        for i in seq:
            assert i in constraint.allowed_ids(state)
            state = constraint.advance(state, i)
    loose = sample_meshes(pipe, [None] * 6, seed=0, constrained=False)  # what the constraint prevents:
    assert any(m.metadata["index_errors"] > 0 or m.metadata["unfinished_face"] for m in loose.meshes)


def test_constraint_config_is_checked():
    with pytest.raises(arkit.ConfigError):
        PolygenConstraint(min_vertices=40, max_vertices=32)
    with pytest.raises(arkit.ConfigError):
        PolygenConstraint(max_faces=0)
    assert isinstance(arkit.create("constraint", "shapes/polygen", bits=5), PolygenConstraint)


class TestPolygenConstraintContract(ConstraintContract):
    component = "shapes/polygen"
    config = {"bits": 3, "max_vertices": 6, "max_face_size": 4, "max_faces": 6, "closed": True}
    vocab_size = PolygenTokenizer(bits=3, max_vertices=6, max_face_size=4).vocab_size
    max_steps = 80
