"""The shipped checkpoints: they load, sample valid meshes and octrees, and the eval report has its targets."""

from __future__ import annotations

import math

import pytest
import torch

import arkit
from arkit_shapes import load_pretrained, sample_meshes, sample_octrees
from arkit_shapes.evaluation import evaluate
from arkit_shapes.metrics import validity

# `arkit shapes eval` found 100 of 100 unconditioned samples valid (docs/shapes.md); taking 0.95 (below its 95 %
# lower confidence bound, 0.97), a 16-sample test
# allows three standard errors below it
MEASURED_VALID = 0.95
N = 16


@pytest.fixture(scope="module")
def polygen():
    return load_pretrained("polygen-mini")


def test_polygen_mini_samples_valid_meshes(polygen):
    assert all(p.dtype == torch.float32 for p in polygen.backbone.parameters())  # float16 on disk, float32 here
    out = sample_meshes(polygen, [None] * N, top_p=0.9, seed=0, closed=True)
    assert all(m.metadata["index_errors"] == 0 and not m.metadata["unfinished_face"] for m in out.meshes)
    share = sum(validity(m)["valid"] for m in out.meshes) / N
    floor = MEASURED_VALID - 3 * math.sqrt(MEASURED_VALID * (1 - MEASURED_VALID) / N)
    assert share >= floor, f"{share:.2f} of {N} samples valid, expected >= {floor:.2f}"


def test_octree_mini_takes_one_call_per_level():
    pipe = load_pretrained("octree-mini")
    out = sample_octrees(pipe, [0, 3], guidance_scale=2.0, seed=0)
    assert out.calls_per_shape <= pipe.tokenizer.depth and out.token_calls_per_shape > 4 * out.calls_per_shape
    assert all(v.grid.any() for v in out.voxels)


def test_eval_report_has_one_target_per_issue_target(polygen, tmp_path):
    report = evaluate(polygen, samples=6, reference=3, per_class=1, judge_train=20, seed=0, out_dir=tmp_path)
    names = [t["name"] for t in report["targets"]]
    assert len(names) == 6 and all(set(t) >= {"name", "value", "target", "met"} for t in report["targets"])
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    assert report["validity"]["no_index_errors"] == 1.0
    assert (tmp_path / "grid.png").stat().st_size > 1000 and any((tmp_path / "conditioned").glob("*.glb"))


def test_unknown_checkpoint_and_class_are_clear_errors(polygen):
    with pytest.raises(arkit.ConfigError, match="no shipped checkpoint"):
        load_pretrained("nope")
    with pytest.raises(arkit.InputError, match="unknown class label 9"):
        sample_meshes(polygen, [9])
