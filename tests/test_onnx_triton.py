"""``arkit export --format triton``: a Triton model repository whose configs parse with tritonclient's protobufs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
import sys
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest

import arkit

pytest.importorskip("onnxscript")
model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2")

from arkit.cli import main  # noqa: E402
from arkit.onnx import OrtPipeline, export_triton  # noqa: E402
from arkit.onnx.triton import _graph_io, check_config, parse_config  # noqa: E402

from .helpers import tiny_pipeline  # noqa: E402


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[arkit.Pipeline, Path, dict[str, Any]]:
    """The tiny pipeline, saved and exported once through the command line."""
    import contextlib
    import io

    pipe = tiny_pipeline()
    root = tmp_path_factory.mktemp("triton")
    pipe.save_pretrained(root / "saved")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["export", str(root / "saved"), str(root / "repo"), "--format", "triton", "--json"]) == 0
    return pipe, root / "repo", json.loads(out.getvalue())


def _configs(repo: Path) -> dict[str, Any]:
    model = repo / "arkit_step"
    return {name: parse_config((model / name).read_text(), model_config_pb2)
            for name in ("config.pbtxt", "configs/stateful.pbtxt")}


def test_the_repository_layout(repository: Any) -> None:
    _, repo, summary = repository
    assert summary["format"] == "triton" and summary["model_name"] == "arkit_step"
    assert summary["max_abs_logit_diff"] is not None and summary["max_abs_logit_diff"] < 1e-4
    assert [p.name for p in repo.iterdir()] == ["arkit_step"]  # Triton loads every top-level folder as a model
    model = repo / "arkit_step"
    assert (model / "1" / "model.onnx").is_file() and not (model / "1" / "decode.onnx").exists()
    assert {p.name for p in model.iterdir()} == {"1", "config.pbtxt", "configs", "arkit"}
    assert (model / "arkit" / "pipeline.json").is_file() and (model / "arkit" / "tokenizer").is_dir()


def test_the_stateless_config_declares_dynamic_batch_sequence_and_past(repository: Any) -> None:
    _, repo, _ = repository
    config = _configs(repo)["config.pbtxt"]
    assert (config.name, config.backend, config.max_batch_size) == ("arkit_step", "onnxruntime", 0)
    dims = {t.name: list(t.dims) for t in [*config.input, *config.output]}
    types = {t.name: model_config_pb2.DataType.Name(t.data_type) for t in [*config.input, *config.output]}
    assert dims["input_ids"] == [-1, -1] and dims["attention_mask"] == [-1, -1, -1]
    assert dims["past.0.key"] == [-1, 2, -1, 16] and dims["present.1.value"] == [-1, 2, -1, 16]
    assert dims["logits"] == [-1, -1, 259]
    assert types["attention_mask"] == "TYPE_BOOL" and types["input_ids"] == "TYPE_INT64"
    assert types["past.0.key"] == "TYPE_FP32"
    assert not config.HasField("sequence_batching")


def test_the_stateful_config_keeps_the_kv_cache_as_implicit_state(repository: Any) -> None:
    _, repo, _ = repository
    config = _configs(repo)["configs/stateful.pbtxt"]
    assert config.max_batch_size == 1 and config.HasField("sequence_batching")
    assert [t.name for t in config.input] == ["input_ids", "positions", "attention_mask"]
    assert [t.name for t in config.output] == ["logits"]
    states = config.sequence_batching.state
    assert [(s.input_name, s.output_name) for s in states] == [
        (f"past.{i}.{kv}", f"present.{i}.{kv}") for i in range(2) for kv in ("key", "value")]
    for state in states:
        assert list(state.dims) == [2, -1, 16]  # without the batch dimension
        (initial,) = state.initial_state
        assert initial.zero_data and list(initial.dims) == [2, 0, 16]  # an empty past at the sequence's start


def test_the_repositorys_graph_runs_the_same_generation(repository: Any) -> None:
    """The arkit/ folder is a complete OrtPipeline export whose graph is the one Triton serves."""
    pipe, repo, _ = repository
    ort = OrtPipeline.from_pretrained(repo / "arkit_step" / "arkit")
    prompts = ["hello world", "ab"]
    assert ort.generate(prompts, max_new_tokens=8).sequences == pipe.generate(prompts, max_new_tokens=8).sequences


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_check_config_rejects_every_single_corruption(repository: Any, data: st.DataObject) -> None:
    """The generated configs pass; changing one declared tensor's type, rank, fixed size or name, or dropping it,
    fails with an ExportError."""
    _, repo, _ = repository
    inputs, outputs = _graph_io(repo / "arkit_step" / "1" / "model.onnx")
    name = data.draw(st.sampled_from(["config.pbtxt", "configs/stateful.pbtxt"]))
    config = _configs(repo)[name]
    check_config(config, inputs, outputs, name)
    broken = copy.deepcopy(config)
    tensors = list(broken.input) + list(broken.output)
    target = data.draw(st.sampled_from(range(len(tensors))))
    tensor = tensors[target]
    how = data.draw(st.sampled_from(["type", "rank", "size", "name", "drop"]))
    if how == "type":
        tensor.data_type = model_config_pb2.TYPE_FP16 if tensor.data_type != model_config_pb2.TYPE_FP16 \
            else model_config_pb2.TYPE_FP32
    elif how == "rank":
        tensor.dims.append(-1)
    elif how == "size":
        if all(d == -1 for d in tensor.dims):
            tensor.dims.append(3)  # no fixed size to change: a rank change instead
        else:
            i = next(i for i, d in enumerate(tensor.dims) if d != -1)
            tensor.dims[i] += 1
    elif how == "name":
        tensor.name += "_renamed"
    else:
        group = broken.input if target < len(broken.input) else broken.output
        del group[target if target < len(broken.input) else target - len(broken.input)]
    with pytest.raises(arkit.ExportError):
        check_config(broken, inputs, outputs, name)


def test_malformed_text_is_an_export_error() -> None:
    with pytest.raises(arkit.ExportError, match="not a valid Triton model config"):
        parse_config('name: "x"\nmax_batch_size: "eight"\n', model_config_pb2)
    with pytest.raises(arkit.ExportError, match="not a valid Triton model config"):
        parse_config('name: "x"\nsequence_batcher { }\n', model_config_pb2)


def test_bad_targets_and_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pipe = tiny_pipeline()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(arkit.PipelineFormatError, match="not a Triton model repository"):
        export_triton(pipe, busy)
    assert [p.name for p in busy.iterdir()] == ["notes.txt"]
    with pytest.raises(arkit.ConfigError, match="model_name"):
        export_triton(pipe, tmp_path / "a", model_name="../escape")
    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)
    with pytest.raises(arkit.ConfigError, match="pip install --no-deps tritonclient"):
        export_triton(pipe, tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
