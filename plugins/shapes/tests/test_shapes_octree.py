"""Coarse-to-fine octree generation: one model call per level, block inputs from the levels above, training rows."""

from __future__ import annotations

import numpy as np
import pytest

import arkit
from arkit_shapes import OctreeSchedule, OctreeTokenizer, sample_octrees, voxelise
from arkit_shapes.training import octree_pipeline, train_octree


def test_block_inputs_follow_the_levels_above(primitives):
    tok = OctreeTokenizer()
    schedule = OctreeSchedule(tok)
    label, levels = schedule.item(primitives[0])
    assert label == primitives[0].label and len(levels) == tok.depth == schedule.num_blocks
    assert schedule.block_inputs(0, [1, 2], []) == []
    for k in range(1, tok.depth):
        inputs = schedule.block_inputs(k, [1, 2], levels[:k])
        assert len(inputs) == len(levels[k]) == sum(bin(m).count("1") for m in levels[k - 1])
        assert len(set(inputs)) == len(inputs)  # one distinct cell per node
    assert schedule.block_inputs(tok.depth, [1, 2], levels) is None
    inputs, targets, block_ids = schedule.training_example([7, 8], levels)
    assert targets[1] == levels[0][0] and [t for t in targets if t != -100] == [t for level in levels for t in level]
    assert len(inputs) == 2 + sum(len(level) for level in levels[1:])
    mask = schedule.allowed(1, [7, 8], levels[:1], 3)
    assert mask.shape == (3, tok.vocab_size) and not mask[:, 0].any() and mask[:, 1:256].all()


def test_generation_takes_one_call_per_level_and_decodes():
    pipe = octree_pipeline(d_model=32, n_layers=1, n_heads=2)
    out = sample_octrees(pipe, [0, 1, None], guidance_scale=1.5, seed=0)
    depth = pipe.tokenizer.depth
    assert out.calls_per_shape <= depth  # the prefill predicts the root; each further level is one call
    assert out.token_calls_per_shape > out.calls_per_shape
    for voxels, blocks in zip(out.voxels, out.blocks):
        assert len(blocks) == depth and all(0 < t < 256 for block in blocks for t in block)
        assert voxels.grid.any() and voxels.grid.shape == (16, 16, 16)
        assert np.array_equal(pipe.tokenizer.decode([t for b in blocks for t in b]).grid, voxels.grid)


def test_a_few_training_steps_lower_the_loss(primitives):
    pipe = octree_pipeline(d_model=32, n_layers=1, n_heads=2)
    result = train_octree(pipe, primitives[:8], steps=6, batch_size=4, lr=3e-3)
    assert result.losses[-1] < result.losses[0]


def test_octree_rejects_bad_grids():
    tok = OctreeTokenizer(resolution=8)
    with pytest.raises(arkit.InputError, match="8\\^3"):
        tok.encode(np.ones((4, 4, 4), dtype=bool))
    with pytest.raises(arkit.InputError, match="booleans"):
        tok.encode(np.full((8, 8, 8), 2))
    with pytest.raises(arkit.ConfigError):
        OctreeSchedule(object())
    # any masks decode (missing levels read as empty, ids past 255 as 0)
    assert not tok.decode([300, 5]).grid.any()


def test_voxelise_fills_the_solid(primitives):
    box = voxelise(primitives[0])
    filled = box.grid
    assert filled.any() and filled.sum() < filled.size
    # the interior is solid: every voxel between two filled voxels along x is filled for a box
    xs = np.nonzero(filled.any(axis=(1, 2)))[0]
    assert np.array_equal(xs, np.arange(xs.min(), xs.max() + 1))
