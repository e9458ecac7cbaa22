"""``arkit.onnx.export_triton``: the step graph as an NVIDIA Triton model repository (onnxruntime backend).

The repository holds one model, ``<name>/``:

- ``1/model.onnx``: the step graph of :func:`arkit.onnx.export` (validated against
  torch), with the KV cache as explicit inputs and outputs;
- ``config.pbtxt``: the stateless model. Batch, sequence and past dimensions are
  dynamic (``-1``); the client keeps the ``present`` tensors and feeds them back as
  ``past`` (``max_batch_size: 0``, so the batch dimension is part of each tensor);
- ``configs/stateful.pbtxt``: the same graph with Triton's sequence batcher and
  implicit state: each ``past.{i}.*`` input is fed from the ``present.{i}.*`` output
  of the sequence's previous request, so the KV cache stays on the server. Select it
  with ``tritonserver --model-config-name=stateful``. One sequence is one row
  (``max_batch_size: 1``);
- ``arkit/``: the tokenizer, sampler and drafter configs and ``onnx.json``, what a
  client-side generation loop needs.

Both configs are parsed with the protobuf definitions ``tritonclient`` ships
(``model_config.proto``) and checked against the graph's inputs and outputs (names,
data types, ranks, fixed sizes) before anything is written. No Triton server runs
here: serving them is not tested by arkit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
import os
from pathlib import Path
import re
from typing import Any

import attrs

from .._serialization import discard_temporary, new_temporary, replace_folder
from ..errors import ConfigError, ExportError, PipelineFormatError
from ..pipeline import Pipeline

__all__ = ["TritonExportReport", "check_config", "export_triton", "parse_config", "stateful_config", "stateless_config"]

INSTALL = "pip install --no-deps tritonclient==2.73.0 && pip install grpcio python-rapidjson"
"""tritonclient's ``grpc`` extra pins ``protobuf<7``; its generated ``model_config_pb2`` also loads with newer
protobuf runtimes, so the package is installed without its extras' pins."""
STATEFUL = "stateful"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_TYPES = {1: "TYPE_FP32", 6: "TYPE_INT32", 7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64",
          16: "TYPE_BF16"}  # onnx.TensorProto element type -> Triton DataType


@attrs.frozen(kw_only=True)
class TritonExportReport:
    """What :func:`export_triton` wrote."""

    directory: Path
    """The model repository (pass it to ``tritonserver --model-repository``)."""
    model_name: str
    configs: tuple[str, ...]
    """The config files written, relative to the model's folder."""
    max_abs_logit_diff: float | None
    """The step graph's parity with torch, measured by :func:`arkit.onnx.export` (``None``: not validated)."""


def export_triton(pipeline: Pipeline, out_dir: str | os.PathLike[str], *, model_name: str = "arkit_step",
                  opset: int | None = None, dtype: str = "float32", validate: bool = True) -> TritonExportReport:
    """Write a Triton model repository for ``pipeline``'s step graph into ``out_dir``.

    The step graph is exported (and, with ``validate``, checked against torch) by
    :func:`arkit.onnx.export` without the decode graph: a server that copies tensors
    in and out cannot bind past and present to the same memory, which is what that
    graph is for. ``config.pbtxt`` and ``configs/stateful.pbtxt`` are generated from
    the graph and parsed with ``tritonclient``'s ``model_config`` protobuf definitions
    (:class:`arkit.ConfigError` with the install command when it is missing). An
    existing non-empty ``out_dir`` that is not an earlier Triton export is refused.
    """
    if not isinstance(model_name, str) or not _NAME.fullmatch(model_name):
        raise ConfigError(f"model_name must be 1-64 letters, digits, '_', '.' or '-' (not starting with '.' or "
                          f"'-'), got {model_name!r}")
    model_config_pb2 = _model_config()
    target = Path(out_dir)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise PipelineFormatError(f"refusing to export to {target}: it exists and is not a folder (a file or a link); "
                                  f"choose a new path")
    if target.is_dir() and any(target.iterdir()) and not any(target.glob("*/config.pbtxt")):
        raise PipelineFormatError(f"refusing to export into {target}: the folder is not empty and is not a Triton "
                                  f"model repository (no */config.pbtxt)")
    from .export import export

    tmp = new_temporary(target)  # after recovering and cleaning what a killed export left
    try:
        model = tmp / model_name
        report = export(pipeline, model / "arkit", opset=opset, dtype=dtype, validate=validate, decode_graph=False)
        version = model / "1"
        version.mkdir()
        for path in sorted((model / "arkit").glob("model.onnx*")):  # the graph and its external data, if any
            path.rename(version / path.name)
        manifest = json.loads((model / "arkit" / "onnx.json").read_text())
        manifest["graph"] = "../1/model.onnx"
        manifest["triton"] = {"model_name": model_name, "graph": "1/model.onnx"}
        (model / "arkit" / "onnx.json").write_text(json.dumps(manifest, indent=2) + "\n")
        inputs, outputs = _graph_io(version / "model.onnx")
        texts = {"config.pbtxt": stateless_config(model_name, inputs, outputs),
                 f"configs/{STATEFUL}.pbtxt": stateful_config(model_name, inputs, outputs)}
        for name, text in texts.items():
            config = parse_config(text, model_config_pb2, name)
            check_config(config, inputs, outputs, name)
            (model / name).parent.mkdir(exist_ok=True)
            (model / name).write_text(text)
        replace_folder(tmp, target)
    except BaseException:
        discard_temporary(tmp)
        raise
    return TritonExportReport(directory=target, model_name=model_name, configs=tuple(texts),
                              max_abs_logit_diff=report.max_abs_logit_diff)


def _model_config() -> Any:
    try:
        from tritonclient.grpc import model_config_pb2
    except (ImportError, RuntimeError) as exc:  # tritonclient raises RuntimeError when grpc is missing
        raise ConfigError(f"the Triton export checks config.pbtxt with tritonclient's protobuf definitions, which "
                          f"are not importable ({exc}): {INSTALL}") from None
    return model_config_pb2


def _graph_io(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The graph's inputs and outputs: name, Triton data type and dims (``-1`` for a symbolic dimension)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)

    def describe(values: Any) -> list[dict[str, Any]]:
        found = []
        for value in values:
            tensor = value.type.tensor_type
            if tensor.elem_type not in _TYPES:
                raise ExportError(f"{path.name}: {value.name} has an ONNX element type ({tensor.elem_type}) with no "
                                  f"Triton data type here")
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tensor.shape.dim]
            found.append({"name": value.name, "data_type": _TYPES[tensor.elem_type], "dims": dims})
        return found

    return describe(model.graph.input), describe(model.graph.output)


def _tensor_block(kind: str, entries: Sequence[Mapping[str, Any]], drop_batch: bool) -> str:
    lines = []
    for e in entries:
        dims = e["dims"][1:] if drop_batch else e["dims"]
        lines.append(f'  {{\n    name: "{e["name"]}"\n    data_type: {e["data_type"]}\n'
                     f'    dims: [ {", ".join(str(d) for d in dims)} ]\n  }}')
    return f"{kind} [\n" + ",\n".join(lines) + "\n]\n"


def _pairs(inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> list[tuple[Any, Any]]:
    """(past input, present output) for every KV cache tensor of the step graph."""
    by_name = {o["name"]: o for o in outputs}
    pairs = []
    for e in inputs:
        if e["name"].startswith("past."):
            present = by_name.get("present." + e["name"][len("past."):])
            if present is None:
                raise ExportError(f"the step graph has input {e['name']} but no matching present output")
            pairs.append((e, present))
    return pairs


def stateless_config(name: str, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> str:
    """``config.pbtxt`` text: every graph input and output, batch included in the dims (``max_batch_size: 0``)."""
    return (f'# arkit step graph: the client keeps the KV cache (present -> past). Dimensions of -1 are dynamic\n'
            f'# (batch, new positions, mask slots, past length).\n'
            f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: 0\n'
            + _tensor_block("input", inputs, drop_batch=False)
            + _tensor_block("output", outputs, drop_batch=False)
            + 'instance_group [\n  {\n    kind: KIND_AUTO\n    count: 1\n  }\n]\n')


def stateful_config(name: str, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]]) -> str:
    """``configs/stateful.pbtxt`` text: the sequence batcher keeps each sequence's KV cache as implicit state."""
    pairs = _pairs(inputs, outputs)
    state_inputs = {past["name"] for past, _ in pairs}
    state_outputs = {present["name"] for _, present in pairs}
    states = []
    for past, present in pairs:
        dims = past["dims"][1:]  # [kv_heads, past, head_dim]: the batch dimension is Triton's
        empty = [0 if d == -1 else d for d in dims]
        states.append(f'    {{\n      input_name: "{past["name"]}"\n      output_name: "{present["name"]}"\n'
                      f'      data_type: {past["data_type"]}\n      dims: [ {", ".join(map(str, dims))} ]\n'
                      f'      initial_state {{\n        name: "empty past"\n        data_type: {past["data_type"]}\n'
                      f'        dims: [ {", ".join(map(str, empty))} ]\n        zero_data: true\n      }}\n    }}')
    return (f'# arkit step graph with the KV cache kept on the server: each past.* input is the present.* output\n'
            f'# of the same sequence\'s previous request (an empty past at its start). One sequence per row; send\n'
            f'# a correlation id with every request and the start/end flags. Use with --model-config-name={STATEFUL}.\n'
            f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: 1\n'
            + _tensor_block("input", [e for e in inputs if e["name"] not in state_inputs], drop_batch=True)
            + _tensor_block("output", [e for e in outputs if e["name"] not in state_outputs], drop_batch=True)
            + 'sequence_batching {\n  max_sequence_idle_microseconds: 60000000\n  direct { }\n  state [\n'
            + ",\n".join(states) + '\n  ]\n}\n'
            + 'instance_group [\n  {\n    kind: KIND_AUTO\n    count: 1\n  }\n]\n')


def parse_config(text: str, model_config_pb2: Any = None, what: str = "config.pbtxt") -> Any:
    """``text`` parsed as Triton's ``inference.ModelConfig`` (protobuf text format), or :class:`arkit.ExportError`
    naming the line it rejects."""
    from google.protobuf import text_format

    module = model_config_pb2 if model_config_pb2 is not None else _model_config()
    try:
        return text_format.Parse(text, module.ModelConfig())
    except text_format.ParseError as exc:
        raise ExportError(f"{what} is not a valid Triton model config: {exc}") from None


def check_config(config: Any, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping[str, Any]],
                 what: str = "config.pbtxt") -> None:
    """Check a parsed ``ModelConfig`` against the graph: every graph input and output is declared exactly once (as a
    tensor or as an implicit state), with the graph's data type, rank and fixed sizes."""
    batch = 1 if config.max_batch_size > 0 else 0  # with max_batch_size > 0 the batch dimension is implicit
    data_types = config.DESCRIPTOR.file.enum_types_by_name["DataType"]

    def type_name(value: int) -> str:
        found = data_types.values_by_number.get(value)
        return found.name if found is not None else str(value)

    declared: dict[str, tuple[str, list[int], str]] = {}
    for kind, tensors in (("input", config.input), ("output", config.output)):
        for t in tensors:
            if t.name in declared:
                raise ExportError(f"{what}: {t.name} is declared twice")
            declared[t.name] = (type_name(t.data_type), list(t.dims), kind)
    if config.HasField("sequence_batching"):
        for state in config.sequence_batching.state:
            for name, kind in ((state.input_name, "input"), (state.output_name, "output")):
                if name in declared:
                    raise ExportError(f"{what}: {name} is declared twice (as a tensor and as a state)")
                declared[name] = (type_name(state.data_type), list(state.dims), kind)
    expected = {e["name"]: (e, kind) for kind, group in (("input", inputs), ("output", outputs)) for e in group}
    missing = sorted(set(expected) - set(declared))
    unknown = sorted(set(declared) - set(expected))
    if missing or unknown:
        raise ExportError(f"{what} does not match the graph: missing {missing}, not in the graph {unknown}")
    for name, (graph, kind) in expected.items():
        dtype, dims, declared_kind = declared[name]
        want = graph["dims"][batch:]
        if declared_kind != kind:
            raise ExportError(f"{what}: {name} is a graph {kind}, declared as an {declared_kind}")
        if dtype != graph["data_type"]:
            raise ExportError(f"{what}: {name} has data type {dtype}, the graph {graph['data_type']}")
        if len(dims) != len(want) or any(w != -1 and d != w for d, w in zip(dims, want)):
            raise ExportError(f"{what}: {name} has dims {dims}, the graph {want}"
                              + (" (without the batch dimension)" if batch else ""))
