"""ONNX: the shipped atlas model exported, sampled through OrtPipeline under the same constraint."""

from __future__ import annotations

import pytest

import arkit
from arkit_graphs import BfsConstraint
from arkit_graphs.checkpoints import pretrained
from arkit_graphs.sampling import sample_graphs

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("arkit.onnx")


def test_ort_pipeline_samples_the_same_graphs_under_the_constraint(tmp_path) -> None:
    pipe = pretrained("atlas-5").replace(sampler=arkit.create("sampler", "core/greedy"))
    onnx.export(pipe, tmp_path / "onnx")
    ort_pipe = onnx.OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1)
    assert ort_pipe.tokenizer.config == pipe.tokenizer.config

    def constraint() -> BfsConstraint:
        return BfsConstraint.for_tokenizer(pipe.tokenizer, min_nodes=4, max_nodes=5, max_degree=3)

    # greedy decoding: any logit difference large enough to matter changes the tokens
    torch_out = sample_graphs(pipe, 4, constraint=constraint, batch_size=4, measure=False)
    ort_out = sample_graphs(ort_pipe, 4, constraint=constraint, batch_size=4, measure=False)
    assert torch_out.tokens == ort_out.tokens
    # sampling with a seed: both runtimes draw valid graphs (validity comes from the constraint)
    sampled = sample_graphs(ort_pipe.replace(sampler=arkit.create("sampler", "core/multinomial")), 32,
                            constraint=constraint, batch_size=16, seed=3, measure=False)
    assert all(g.is_connected() and 4 <= g.n <= 5 and max(len(a) for a in g.neighbours) <= 3
               for g in sampled.graphs)
