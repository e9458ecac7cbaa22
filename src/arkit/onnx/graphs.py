"""Neural tokenizers as their own ONNX graphs (a VQ decoder, a learned encoder).

A tokenizer whose encode or decode is a network declares its graphs with
``onnx_graphs()``, a mapping from a short name to a :class:`TokenizerGraph`.
:func:`arkit.onnx.export` then writes each one as ``tokenizer.<name>.onnx`` next
to the step graph, checks it against torch on its example inputs, and lists it in
``onnx.json``; :func:`load_graph` runs it in onnxruntime without the torch weights::

    class VQTokenizer:
        def onnx_graphs(self):
            codes = torch.zeros(2, 8, 8, dtype=torch.long)
            return {"decode": TokenizerGraph(module=self.decoder, inputs={"codes": codes},
                                             outputs=["images"], dynamic={"codes": {0: "batch"}})}

    images = arkit.onnx.load_graph("exported/", "decode")(codes=codes)["images"]

The exporter specialises a dimension it sees as 0 or 1, so give every dynamic
axis an example size of at least 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import contextlib
import io
import logging
import os
from pathlib import Path
import re
from typing import Any
import warnings

import attrs
import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, ExportError, InputError, PipelineFormatError

__all__ = ["OrtGraph", "TokenizerGraph", "load_graph"]

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


@attrs.frozen(kw_only=True)
class TokenizerGraph:
    """One network of a tokenizer to export: the module, example inputs (in call order), output names."""

    module: nn.Module
    inputs: Mapping[str, torch.Tensor]
    """Example inputs by name, in the order ``module.forward`` takes them."""
    outputs: Sequence[str]
    """Names for the module's outputs (a tensor or a tuple of tensors)."""
    dynamic: Mapping[str, Mapping[int, str]] = attrs.field(factory=dict)
    """For each input, the axes whose size may vary, named (``{"codes": {0: "batch"}}``)."""
    atol: float = 1e-4
    """Largest absolute difference to torch that the export accepts on floating outputs (integers must match)."""


def graph_file(name: str) -> str:
    return f"tokenizer.{name}.onnx"


def tokenizer_graphs(tokenizer: Any) -> dict[str, TokenizerGraph]:
    """The graphs ``tokenizer.onnx_graphs()`` declares, checked; ``{}`` for a tokenizer without networks."""
    declare = getattr(tokenizer, "onnx_graphs", None)
    if declare is None:
        return {}
    graphs = dict(declare())
    for name, graph in graphs.items():
        what = f"{type(tokenizer).__name__}.onnx_graphs()[{name!r}]"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(f"{type(tokenizer).__name__}.onnx_graphs() names a graph {name!r}: use lowercase "
                              f"letters, digits, '-' or '_' (at most 32), starting with a letter")
        if not isinstance(graph, TokenizerGraph):
            raise ConfigError(f"{what} is a {type(graph).__name__}, not an arkit.onnx.TokenizerGraph")
        if not graph.inputs or not graph.outputs:
            raise ConfigError(f"{what} needs at least one example input and one output name")
        for key, axes in graph.dynamic.items():
            if key not in graph.inputs:
                raise ConfigError(f"{what}: dynamic axes for {key!r}, which is not an input ({sorted(graph.inputs)})")
            for axis in axes:
                if graph.inputs[key].shape[axis] < 2:
                    raise ConfigError(f"{what}: the example of {key!r} has size {graph.inputs[key].shape[axis]} on "
                                      f"dynamic axis {axis}; give it at least 2 (the exporter fixes sizes 0 and 1)")
    return graphs


def export_graph(name: str, graph: TokenizerGraph, directory: Path, opset: int | None) -> dict[str, Any]:
    """Trace, save and check ``graph`` as ``directory/tokenizer.<name>.onnx``; the manifest entry it returns."""
    module = graph.module.eval()
    args = tuple(graph.inputs.values())
    dims: dict[str, torch.export.Dim] = {}
    dynamic = tuple({axis: dims.setdefault(dim, torch.export.Dim(dim)) for axis, dim in graph.dynamic.get(key, {}).items()}
                    or None for key in graph.inputs)  # positional: forward's parameter names may differ
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, dynamic_shapes=dynamic, input_names=list(graph.inputs),
                                        output_names=list(graph.outputs), opset_version=opset, dynamo=True,
                                        verbose=False)
    except Exception as exc:  # torch.export / onnxscript errors: name the graph, keep the first line
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"cannot export the tokenizer graph {name!r}: {first[:400]}") from exc
    finally:
        logger.setLevel(level)
    path = directory / graph_file(name)
    program.save(str(path))
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=False)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejects {path.name}: {str(exc).splitlines()[0][:300]}") from None
    entry = {"file": path.name, "inputs": list(graph.inputs), "outputs": list(graph.outputs)}
    entry["max_abs_diff"] = _validate(name, graph, directory, entry)
    return entry


def _validate(name: str, graph: TokenizerGraph, directory: Path, entry: Mapping[str, Any]) -> float:
    """onnxruntime vs torch on the example inputs and on them stacked twice along every dynamic axis 0."""
    session = OrtGraph(directory, name, entry, providers=["CPUExecutionProvider"])
    cases = [dict(graph.inputs)]
    if all(0 in graph.dynamic.get(key, {}) for key in graph.inputs):  # a batch axis: also check another size
        cases.append({key: torch.cat([t, t.flip(0)]) for key, t in graph.inputs.items()})
    worst = 0.0
    for inputs in cases:
        with torch.inference_mode():
            expected = graph.module(*inputs.values())
        expected = expected if isinstance(expected, (tuple, list)) else (expected,)
        got = session(**inputs)
        for out, want in zip(graph.outputs, expected):
            have = torch.from_numpy(np.asarray(got[out]))
            if have.shape != want.shape:
                raise ExportError(f"tokenizer graph {name!r}: onnxruntime gives {out} of shape {tuple(have.shape)}, "
                                  f"torch {tuple(want.shape)}")
            if not want.is_floating_point():
                if not torch.equal(have.to(want.dtype), want):
                    raise ExportError(f"tokenizer graph {name!r}: onnxruntime and torch disagree on {out} (integers)")
                continue
            diff = float((have.float() - want.float()).abs().max()) if want.numel() else 0.0
            if diff > graph.atol:
                raise ExportError(f"tokenizer graph {name!r}: onnxruntime and torch disagree on {out} by {diff:.3g} "
                                  f"> {graph.atol:g}")
            worst = max(worst, diff)
    return worst


class OrtGraph:
    """An exported tokenizer graph in onnxruntime: ``graph(**inputs) -> {output name: numpy array}``."""

    def __init__(self, directory: str | os.PathLike[str], name: str, entry: Mapping[str, Any], *,
                 providers: Sequence[Any] | None = None) -> None:
        from .runtime import _ort, default_providers

        ort = _ort()
        self.name, self.input_names, self.output_names = name, list(entry["inputs"]), list(entry["outputs"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.log_severity_level = 3
        path = Path(directory) / entry["file"]
        try:
            self.session = ort.InferenceSession(str(path), options, providers=list(providers or default_providers()))
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ExportError(f"onnxruntime cannot load {path}: {str(exc).strip().splitlines()[0][:300]}") from None
        self._types = {i.name: i.type for i in self.session.get_inputs()}

    def __call__(self, **inputs: Any) -> dict[str, np.ndarray]:
        if sorted(inputs) != sorted(self.input_names):
            raise InputError(f"tokenizer graph {self.name!r} takes inputs {self.input_names}, got {sorted(inputs)}")
        feeds = {}
        for key, value in inputs.items():
            array = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            want = {"tensor(int64)": np.int64, "tensor(float)": np.float32, "tensor(float16)": np.float16,
                    "tensor(bool)": np.bool_, "tensor(int32)": np.int32}.get(self._types[key])
            if want is not None and array.dtype != want:
                if np.issubdtype(want, np.integer) and not np.issubdtype(array.dtype, np.integer):
                    raise InputError(f"tokenizer graph {self.name!r}: input {key!r} must be integers, got {array.dtype}")
                array = array.astype(want)
            feeds[key] = array
        try:
            values = self.session.run(self.output_names, feeds)
        except Exception as exc:  # onnxruntime's own errors: wrong rank or shape
            raise InputError(f"tokenizer graph {self.name!r} rejects its inputs: "
                             f"{str(exc).strip().splitlines()[0][:300]}") from None
        return dict(zip(self.output_names, values))


def load_graph(directory: str | os.PathLike[str], name: str, *, providers: Sequence[Any] | None = None) -> OrtGraph:
    """The tokenizer graph ``name`` of an exported folder, ready to run in onnxruntime."""
    from .runtime import read_manifest

    manifest = read_manifest(Path(directory))
    graphs = manifest.get("tokenizer_graphs", {})
    if name not in graphs:
        raise ConfigError(f"{directory} has no tokenizer graph {name!r}; it has {sorted(graphs) or 'none'}")
    entry = graphs[name]
    if not (Path(directory) / entry["file"]).is_file():
        raise PipelineFormatError(f"{Path(directory) / entry['file']} is missing: copy the whole exported folder")
    return OrtGraph(directory, name, entry, providers=providers)
