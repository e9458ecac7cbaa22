"""``arkit.onnx.export``: one ONNX step graph per pipeline, validated against torch before it is written.

The graph is ``(input_ids, positions, attention_mask, past.{i}.key/value) ->
(logits, present.{i}.key/value)`` with dynamic batch, sequence and past
lengths, so one graph serves the prefill (a past of length 0) and every decode
step. It is traced by ``torch.onnx.export(dynamo=True)`` with batch 2, 3 new
positions and a past of 4: the dynamo exporter specialises dimensions it sees
as 0 or 1, so tracing with them would freeze the graph to those sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
import contextlib
import inspect
import io
import json
import logging
import math
import os
from pathlib import Path
import time
from typing import Any
import warnings

import attrs
import torch

from .._serialization import discard_temporary, new_temporary, replace_folder, save_pipeline
from .._version import __version__
from ..errors import ConfigError, ExportError, PipelineFormatError
from ..pipeline import Pipeline
from ..protocols import ExportableDraftHeads, FusedAttentionBackbone
from ..types import ExtraInput
from ._graph import StepGraph, _TensorCache, input_names, output_names
from .graphs import export_graph, tokenizer_graphs
from .runtime import FORMAT_VERSION, MANIFEST, OrtCache, OrtPipeline

__all__ = ["ExportReport", "export"]

GRAPH = "model.onnx"
DECODE_GRAPH = "decode.onnx"
SHARED_WEIGHTS = "weights.onnx.data"
"""With a decode graph, the weights both graphs read, stored once."""
TOLERANCE: dict[str, float | None] = {"float32": 1e-4, "float16": 5e-2, "int8": None}
"""Largest max |logit difference| to the float32 torch pipeline that export accepts (int8: reported, not enforced)."""
_EXTERNAL_DATA_BYTES = 1 << 30  # weights beyond this go to model.onnx.data (protobuf caps files at 2 GiB)


@attrs.frozen(kw_only=True)
class ExportReport:
    """What :func:`export` wrote and measured."""

    directory: Path
    opset: int
    dtype: str
    export_s: float
    """Wall time of tracing and conversion."""
    max_abs_logit_diff: float | None
    """Largest logit difference between onnxruntime and torch over the validation cases (``None``: not validated)."""
    cases: tuple[dict[str, Any], ...] = ()
    """Each validation case: the graph, batch, new positions, past length and its max abs logit difference."""
    decode_graph: bool = False
    """Whether the folder holds the fused single-position decode graph (``decode.onnx``)."""


def export(pipeline: Pipeline, out_dir: str | os.PathLike[str], *, opset: int | None = None,
           dtype: str = "float32", validate: bool = True, decode_graph: bool | None = None) -> ExportReport:
    """Export ``pipeline``'s backbone and head as one ONNX step graph into ``out_dir``.

    The folder also holds the tokenizer, sampler, drafter and acceptance rule
    (``pipeline.json`` and one subfolder each), the tokenizer's own networks
    when it declares them (``onnx_graphs()``, see :class:`TokenizerGraph`; each
    ``tokenizer.<name>.onnx`` is checked against torch on its examples) and
    ``onnx.json``, so
    :meth:`OrtPipeline.from_pretrained` runs it without the torch weights. With
    ``validate`` (the default) onnxruntime and torch are compared on random
    inputs (prefill and decode with a past, batch 1 and 3); above the tolerance
    (1e-4 for float32) nothing is written and :class:`arkit.ExportError` says by
    how much. ``dtype="float16"`` halves the weights for GPU deployment;
    ``dtype="int8"`` quantises the weights of the float32 graph dynamically
    (onnxruntime's ``quantize_dynamic``) for CPU deployment. Both are compared
    with the float32 torch pipeline, and the difference is reported in the
    :class:`ExportReport` and ``onnx.json``. float16 must stay within 5e-2.
    int8 has no tolerance: check its reported figure before you deploy it.

    ``decode_graph`` adds ``decode.onnx``, a second graph for single-position
    steps in which each layer's attention is onnxruntime's fused
    ``GroupQueryAttention`` (rotary embedding included) writing the KV cache in
    place; :class:`OrtPipeline` runs decode steps through it and everything else
    (prefill, speculative verification) through the step graph. It needs a
    backbone with fused attention (:class:`arkit.protocols.FusedAttentionBackbone`,
    as ``core/transformer`` has). ``None`` (the default) adds it for float32
    and int8 exports of that backbone; float16 needs ``decode_graph=True``,
    because onnxruntime's CUDA kernel for the op is float16-only and has not
    been checked on a GPU by this release. The two graphs then read their
    weights from one file, ``weights.onnx.data``, so the folder does not grow;
    a loaded pipeline holds about 1.4 times the memory (each onnxruntime
    session keeps its own prepacked weights).
    """
    if dtype not in TOLERANCE:  # float32, float16, int8
        raise ConfigError(f"dtype must be one of {sorted(TOLERANCE)}, got {dtype!r}")
    if opset is not None and (not isinstance(opset, int) or not 18 <= opset <= 23):
        raise ConfigError(f"opset must be an integer from 18 to 23 (what torch's exporter and onnxruntime share), "
                          f"got {opset!r}")
    _require("onnx", "onnxscript")
    backbone, head = pipeline.backbone, pipeline.head
    for role, obj in (("backbone", backbone), ("head", head)):
        if not isinstance(obj, torch.nn.Module):
            raise ExportError(f"the {role} ({type(obj).__name__}) is not a torch module: it has no graph to export")
    continuous = head.vocab_size == 0
    if continuous and not (callable(getattr(head, "params", None)) and callable(getattr(head, "distribution", None))):
        raise ExportError(f"the continuous head {type(head).__name__} cannot be exported: split its forward into "
                          f"params(hidden) -> Tensor (exported) and distribution(params) (rebuilt at run time), "
                          f"as core/gaussian-mixture does")
    if continuous and getattr(backbone, "input_dim", None) is None:
        raise ExportError("a continuous head needs a backbone over real vectors (core/transformer with input_dim)")
    spec = backbone.cache_spec()
    extra = _declared_inputs(backbone, _describe(pipeline))
    unfusable = _unfusable(backbone, _describe(pipeline))
    if decode_graph and unfusable:
        raise ExportError(f"decode_graph=True: {unfusable}; export it with decode_graph=None (the step graph alone)")
    if decode_graph is None:
        decode_graph = unfusable is None and dtype != "float16"
    target = Path(out_dir)
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise PipelineFormatError(f"refusing to export to {target}: it exists and is not a folder (a file or a link); "
                                  f"export replaces only an earlier arkit export folder: choose a new path")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise PipelineFormatError(f"refusing to export into {target}: the folder is not empty and holds no {MANIFEST}")
    tmp = new_temporary(target)  # after recovering and cleaning what a killed export left
    try:
        medusa = _exported_heads(pipeline.drafter, backbone, head)
        inside = ("backbone", "head", "cache") + (("drafter",) if medusa is not None else ())
        extras = {r: c for r, c in pipeline.components.items() if r not in inside}
        save_pipeline(extras, tmp)
        reference = graph = StepGraph(backbone, head, medusa, [e.name for e in extra]).eval()
        if dtype == "float16":
            graph = _half_copy(graph)
        started = time.perf_counter()
        program = _trace(graph, spec, extra, _describe(pipeline), opset)
        export_s = time.perf_counter() - started
        weight_bytes = sum(p.numel() * p.element_size() for p in graph.parameters())
        program.save(str(tmp / GRAPH), external_data=weight_bytes > _EXTERNAL_DATA_BYTES)
        _check(tmp / GRAPH)
        if decode_graph:
            # the same modules as the step graph (already halved for float16), with the fused attention
            decoder = StepGraph(graph.backbone, graph.head, graph.medusa, graph.extra, fused=True).eval()
            started = time.perf_counter()
            program = _trace(decoder, spec, extra, _describe(pipeline), opset, decode=True)
            export_s += time.perf_counter() - started
            program.save(str(tmp / DECODE_GRAPH), external_data=weight_bytes > _EXTERNAL_DATA_BYTES)
            _check(tmp / DECODE_GRAPH)
        if dtype == "int8":
            for name in (GRAPH, DECODE_GRAPH) if decode_graph else (GRAPH,):
                _quantize(tmp / name)
        if decode_graph:
            _share_weights(tmp, (GRAPH, DECODE_GRAPH), SHARED_WEIGHTS)
        manifest = {
            "format_version": FORMAT_VERSION,
            "arkit_version": __version__,
            "graph": GRAPH,
            "opset": _opset_of(tmp / GRAPH),
            "dtype": dtype,
            "geometry": {"num_layers": spec.num_layers, "num_kv_heads": spec.num_kv_heads,
                         "head_dim": spec.head_dim, "vocab_size": head.vocab_size,
                         "max_seq_len": backbone.max_seq_len},
            "inputs": input_names(spec.num_layers, continuous=continuous, extra=[e.name for e in extra]),
            "extra_inputs": [{"name": e.name, "shape": list(e.shape), "dtype": e.dtype, "high": e.high}
                             for e in extra],
            "outputs": output_names(spec.num_layers, continuous=continuous, medusa=medusa is not None),
            "components": sorted(extras),
            "source": {"backbone": _describe(pipeline)},
        }
        graphs = tokenizer_graphs(pipeline.tokenizer)
        if graphs:
            manifest["tokenizer_graphs"] = {}
            for name, declared in graphs.items():
                manifest["tokenizer_graphs"][name] = export_graph(name, declared, tmp, opset)
        if decode_graph:
            manifest["decode_graph"] = DECODE_GRAPH
            manifest["weights"] = SHARED_WEIGHTS
        if medusa is not None:  # the runtime drafts from the graph's medusa_tokens output
            manifest["medusa"] = {"num_heads": medusa.num_heads}
        if continuous:  # what the runtime needs to rebuild the distribution from the graph's params
            manifest["geometry"].update(input_dim=backbone.input_dim, output_dim=_params_dim(head))
            manifest["head"] = _head_entry(head)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        cases: list[dict[str, Any]] = []
        worst = None
        if validate:
            cases = _validate(reference, tmp, backbone, extra)
            diffs = [c["max_abs_logit_diff"] for c in cases]
            worst = next((d for d in diffs if not math.isfinite(d)), max(diffs))  # NaN never wins a max()
            limit = TOLERANCE[dtype]
            if not math.isfinite(worst):
                raise ExportError(
                    f"the exported {_describe(pipeline)} failed validation: the difference between onnxruntime's and "
                    f"torch's logits is {worst} (non-finite logits: NaN or infinite weights?); cases: {cases}"
                )
            if limit is not None and worst > limit:
                raise ExportError(
                    f"onnxruntime and torch disagree on the exported {_describe(pipeline)}: max |logit difference| "
                    f"{worst:.3g} > {limit:g} ({dtype}); cases: {cases}"
                )
            manifest["validation"] = {"reference": "float32 torch", "max_abs_logit_diff": worst, "tolerance": limit,
                                      "cases": cases}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        replace_folder(tmp, target)
    except BaseException:
        discard_temporary(tmp)
        raise
    return ExportReport(directory=target, opset=manifest["opset"], dtype=dtype, export_s=round(export_s, 2),
                        max_abs_logit_diff=worst, cases=tuple(cases), decode_graph=bool(decode_graph))


def _exported_heads(drafter: Any, backbone: Any, head: Any) -> torch.nn.Module | None:
    """The drafter when it goes inside the step graph (:class:`arkit.protocols.ExportableDraftHeads`), else ``None``."""
    if not isinstance(drafter, ExportableDraftHeads):
        return None
    what = f"the drafter {type(drafter).__name__} (arkit.protocols.ExportableDraftHeads)"
    if not isinstance(drafter, torch.nn.Module):
        raise ExportError(f"{what} is not a torch module: the step graph cannot hold it; make it an nn.Module")
    num_heads = drafter.num_heads
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ExportError(f"{what}: num_heads must be a positive integer, got {num_heads!r}")
    if drafter.d_model != backbone.d_model or drafter.vocab_size != head.vocab_size:
        raise ExportError(f"{what} reads {drafter.d_model}-wide hidden states into {drafter.vocab_size} tokens, but "
                          f"the target's are {backbone.d_model} wide with {head.vocab_size} tokens: build the heads "
                          f"for this pipeline")
    return drafter


def _unfusable(backbone: Any, what: str) -> str | None:
    """Why the backbone gets no decode graph, or ``None`` when it can have one."""
    if not isinstance(backbone, FusedAttentionBackbone):
        return (f"the fused decode graph needs the built-in transformer backbone (core/transformer) or another "
                f"with fused attention (arkit.protocols.FusedAttentionBackbone); the {what} has none")
    if backbone.head_dim % 16:
        return (f"onnxruntime's fused attention needs a head size that is a multiple of 16; this transformer's is "
                f"{backbone.head_dim} (d_model / n_heads)")
    return None


def _require(*modules: str) -> None:
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"ONNX export needs {', '.join(missing)}: pip install {' '.join(missing)}")


def _describe(pipeline: Pipeline) -> str:
    from ..registry import component_info

    try:
        return f"backbone {component_info('backbone', pipeline.backbone).name!r}"
    except Exception:  # an unregistered object: name its class
        return f"backbone {type(pipeline.backbone).__name__}"


def _quantize(path: Path) -> None:
    """Dynamic int8 quantisation of the weights, in place (activations stay float32)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(path.stem + ".int8.onnx")
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice about pre-processing image models on the root logger
    try:
        quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
    finally:
        root.setLevel(level)
    for old in path.parent.glob(path.name + "*"):
        old.unlink()
    quantized.rename(path)


def _share_weights(directory: Path, graphs: Sequence[str], data: str) -> None:
    """Store the graphs' weights once: every initializer of 1 KiB or more goes to the external file ``data``
    (page-aligned), and an initializer with the same type, shape and bytes in another graph points at the same
    bytes. The graphs' own ``.data`` files, if the exporter wrote them, are replaced."""
    import hashlib

    import onnx
    from onnx.external_data_helper import set_external_data

    models = {name: onnx.load(str(directory / name)) for name in graphs}  # external data read in
    stored: dict[tuple[int, tuple[int, ...], bytes], tuple[int, int]] = {}
    with open(directory / data, "wb") as out:
        for model in models.values():
            for tensor in model.graph.initializer:
                if not tensor.HasField("raw_data") or len(tensor.raw_data) < 1024:
                    continue  # small or typed-field tensors stay inside the graph
                key = (tensor.data_type, tuple(tensor.dims), hashlib.sha256(tensor.raw_data).digest())
                if key not in stored:
                    end = out.tell()
                    offset = end + -end % 4096  # page-aligned, so onnxruntime can map it
                    out.seek(offset)
                    out.write(tensor.raw_data)
                    stored[key] = (offset, len(tensor.raw_data))
                offset, length = stored[key]
                set_external_data(tensor, data, offset, length)
                tensor.ClearField("raw_data")
                tensor.data_location = onnx.TensorProto.EXTERNAL
    for name, model in models.items():
        for old in directory.glob(name + ".data"):
            old.unlink()
        onnx.save_model(model, str(directory / name))


def _half_copy(graph: StepGraph) -> StepGraph:
    import copy

    return copy.deepcopy(graph).half()


def _params_dim(head: Any) -> int:
    with torch.inference_mode():
        return int(head.params(torch.zeros(1, 1, head.d_model, dtype=next(head.parameters()).dtype)).shape[-1])


def _head_entry(head: Any) -> dict[str, Any]:
    from ..registry import component_info

    try:
        name = component_info("head", head).name
    except Exception:  # noqa: BLE001 - an unregistered head cannot be rebuilt by name
        raise ExportError(f"the continuous head {type(head).__name__} is not registered: the runtime rebuilds its "
                          f"distribution by name; register it through arkit_register_heads") from None
    return {"name": name, "config": dict(head.config)}


def _declared_inputs(backbone: Any, what: str) -> tuple[ExtraInput, ...]:
    """The backbone's extra inputs from its export spec; a required ``forward`` keyword nobody declared is an error."""
    from ..registry import declared_inputs

    declared = declared_inputs(backbone) or ()
    names = {e.name for e in declared}
    standard = {"self", "input_ids", "positions", "cache", "attention_mask"}
    try:
        parameters = inspect.signature(backbone.forward).parameters.values()
    except (TypeError, ValueError):
        parameters = ()
    required = [p.name for p in parameters if p.name not in standard and p.default is inspect.Parameter.empty
                and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    undeclared = [n for n in required if n not in names]
    if undeclared:
        raise ExportError(f"the {what} requires input(s) {undeclared} that no export spec declares: register its "
                          f"extra inputs with the arkit_register_export_specs hook (see docs/deployment.md)")
    return declared


def _example(backbone: Any, vocab: int, dtype: torch.dtype, B: int, T: int, P: int, seed: int,
             extra: Sequence[ExtraInput] = ()) -> tuple[torch.Tensor, ...]:
    """Random ids (or vectors), positions after a past of ``P``, a causal mask with row 0 padded by one slot,
    random extra inputs, random past."""
    spec = backbone.cache_spec()
    g = torch.Generator().manual_seed(seed)
    input_dim = getattr(backbone, "input_dim", None)
    if vocab == 0 and input_dim is not None:
        ids = torch.randn(B, T, input_dim, generator=g).to(dtype)
    else:
        ids = torch.randint(0, vocab, (B, T), generator=g)
    positions = torch.arange(P, P + T).expand(B, T).clone()
    slots = torch.arange(P + T)
    mask = (slots[None, :] <= slots[P:, None]).expand(B, T, P + T).clone()
    if B > 1 and P + T > 1:
        mask[0, :, 0] = False  # a padded row: its first slot is hidden
    extras = [e._random(B, g).to(dtype) if e.dtype == "float32" else e._random(B, g) for e in extra]
    past = [torch.randn(B, spec.num_kv_heads, P, spec.head_dim, generator=g).to(dtype)
            for _ in range(2 * spec.num_layers)]
    return (ids, positions, mask, *extras, *past)


def _trace(graph: StepGraph, spec: Any, extra: Sequence[ExtraInput], what: str, opset: int | None,
           decode: bool = False) -> Any:
    """The step graph traced with batch 2, 3 new positions and a past of 4; the decode graph with 1 new position
    (which the exporter then fixes) and the fused attention's translation."""
    from ._fused import TRANSLATIONS

    dtype = next(graph.parameters()).dtype
    example = _example(graph.backbone, graph.head.vocab_size, dtype, B=2, T=1 if decode else 3, P=4, seed=0,
                       extra=extra)
    batch, seq, past = torch.export.Dim("batch"), torch.export.Dim("seq"), torch.export.Dim("past")
    per_position = {0: batch} if decode else {0: batch, 1: seq}
    dynamic = {
        "input_ids": per_position,
        "positions": per_position,
        "attention_mask": {**per_position, 2: torch.export.Dim("total")},
        "rest": tuple({0: batch} for _ in extra) + tuple({0: batch, 2: past} for _ in range(2 * spec.num_layers)),
    }
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the exporter logs skipped torchvision ops and shape-naming notes
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            return torch.onnx.export(graph, example, dynamic_shapes=dynamic,
                                     input_names=input_names(spec.num_layers, continuous=graph.continuous,
                                                             extra=graph.extra),
                                     output_names=output_names(spec.num_layers, continuous=graph.continuous,
                                                               medusa=graph.medusa is not None),
                                     opset_version=opset, dynamo=True, verbose=False,
                                     custom_translation_table=TRANSLATIONS if decode else None)
    except Exception as exc:  # torch.export / onnxscript errors: name the component, keep the first line
        first = next((line for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"cannot export the {what}: {first[:400]}") from exc
    finally:
        quiet.setLevel(level)


def _check(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=False)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"onnx.checker rejects {path.name}: {str(exc).splitlines()[0][:300]}") from None


def _opset_of(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _validate(graph: StepGraph, directory: Path, backbone: Any, extra: Sequence[ExtraInput]) -> list[dict[str, Any]]:
    """onnxruntime vs torch on random inputs: prefill and decode with a past, batch 1 and 3; single positions
    through the decode graph too, when there is one."""
    session = OrtPipeline.from_pretrained(directory, providers=["CPUExecutionProvider"]).backbone
    runs = [(B, T, P, "step") for B, T, P in ((1, 5, 0), (3, 4, 0), (1, 1, 6), (3, 1, 6), (3, 3, 5))]
    if session.decode_session is not None:
        runs += [(B, 1, P, "decode") for B, P in ((1, 0), (1, 6), (3, 6))]
    cases = []
    for B, T, P, kind in runs:
        ids, positions, mask, *rest = _example(backbone, graph.head.vocab_size, torch.float32, B, T, P,
                                               seed=B * 100 + T * 10 + P, extra=extra)
        if kind == "decode" and B > 1:  # the padded row's position lags its slot by one
            positions[0] -= 1
        extras, past = dict(zip(graph.extra, rest[: len(extra)])), rest[len(extra):]
        with torch.inference_mode():
            expected = graph(ids, positions, mask, *rest)[0].float()
        cache = OrtCache()
        cache.keys, cache.values = [p.to(session.dtype) for p in past[0::2]], [p.to(session.dtype) for p in past[1::2]]
        session.use_decode_graph = kind == "decode"
        try:
            got = session(ids, positions=positions, cache=cache, attention_mask=mask, **extras).float().cpu()
        except RuntimeError as exc:  # onnxruntime refused to run the graph on these inputs
            first = str(exc).strip().splitlines()[0][:300]
            raise ExportError(f"onnxruntime cannot run the exported {kind} graph (batch {B}, {T} new, past {P}): "
                              f"{first}") from None
        case = {"graph": kind, "batch": B, "new": T, "past": P,
                "max_abs_logit_diff": float((got - expected).abs().max())}
        if graph.medusa is not None:  # guesses may differ only where torch's top two are within rounding
            with torch.inference_mode():
                hidden = graph.backbone(ids, positions=positions, cache=_TensorCache(tuple(past)),
                                        attention_mask=mask, **extras)
                top = graph.medusa(hidden).topk(2, dim=-1)
            differ = session.medusa_tokens.cpu() != top.indices[..., 0]
            top = top.values
            case["medusa_token_mismatches"] = int(differ.sum())
            if bool((differ & (top[..., 0] - top[..., 1] > 1e-4)).any()):
                raise ExportError("onnxruntime and torch disagree on the Medusa heads' guesses beyond rounding")
        cases.append(case)
    return cases

