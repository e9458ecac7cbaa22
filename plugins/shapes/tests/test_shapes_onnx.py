"""ONNX: the step graph of a shapes pipeline, and OrtPipeline samples the same constrained meshes as torch."""

from __future__ import annotations

import pytest

from arkit_shapes import PolygenConstraint, sample_meshes
from arkit_shapes.training import polygen_pipeline

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("arkit.onnx")


def test_ort_pipeline_samples_the_same_constrained_meshes(tmp_path):
    pipe = polygen_pipeline(d_model=32, n_layers=1, n_heads=2, max_seq_len=320)
    onnx.export(pipe, tmp_path / "onnx")
    ort_pipe = onnx.OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1)
    labels = [0, 3, None]
    # greedy-like: a tiny nucleus keeps only the best id, so any logit difference would show as another token
    torch_out = sample_meshes(pipe, labels, top_p=1e-6, seed=0, guidance_scale=1.5)
    ort_out = sample_meshes(ort_pipe, labels, top_p=1e-6, seed=0, guidance_scale=1.5)
    assert torch_out.sequences == ort_out.sequences
    assert all(m.metadata["index_errors"] == 0 for m in ort_out.meshes)
    constraint = PolygenConstraint.for_tokenizer(ort_pipe.tokenizer)
    for seq in ort_out.sequences:
        state = constraint.start()
        for i in seq:
            assert i in constraint.allowed_ids(state)
            state = constraint.advance(state, i)


@pytest.mark.slow
def test_ort_pipeline_generates_the_same_octrees_level_by_level(tmp_path):
    from arkit_shapes import sample_octrees
    from arkit_shapes.training import octree_pipeline

    pipe = octree_pipeline(d_model=32, n_layers=1, n_heads=2)
    onnx.export(pipe, tmp_path / "onnx")
    ort_pipe = onnx.OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1)
    labels = [0, 2, None]
    torch_out = sample_octrees(pipe, labels, temperature=1e-4, seed=0)  # near-greedy: differences would show
    ort_out = sample_octrees(ort_pipe, labels, temperature=1e-4, seed=0)
    assert torch_out.blocks == ort_out.blocks
    assert ort_out.calls_per_shape == torch_out.calls_per_shape <= pipe.tokenizer.depth
