"""Running an exported step graph in onnxruntime, behind arkit's own generation loop.

:meth:`OrtPipeline.from_pretrained` returns an ordinary :class:`arkit.Pipeline`
whose backbone is an :class:`OrtBackbone` (the session), whose head passes the
graph's logits through, and whose cache is an :class:`OrtCache` holding the
``present`` tensors between steps. Inputs and outputs are bound by pointer
(IO binding) to torch tensors on the session's device, so on CUDA the KV cache
never leaves the GPU and on CPU nothing is copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import ctypes
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._serialization import load_component, recover_folder
from ..errors import ArkitError, ConfigError, ExportError, InputError, PipelineFormatError
from ..pipeline import Pipeline
from ..types import CacheSpec, Draft, ExtraInput, Verification
from ._graph import input_names, output_names

__all__ = ["OrtBackbone", "OrtCache", "OrtMedusa", "OrtPipeline", "default_providers"]

MANIFEST = "onnx.json"
FORMAT_VERSION = 1


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ConfigError("onnxruntime is not installed: pip install onnxruntime-gpu (or onnxruntime)") from exc
    return onnxruntime


def _cuda_usable() -> bool:
    """CUDA needs ORT's CUDA provider, a driver, and CUDA tensors in torch to bind the cache to."""
    ort = _ort()
    if "CUDAExecutionProvider" not in ort.get_available_providers() or not torch.cuda.is_available():
        return False
    try:
        ctypes.CDLL("libcuda.so.1" if os.name != "nt" else "nvcuda.dll")
    except OSError:
        return False
    return True


def default_providers() -> list[str]:
    """``["CUDAExecutionProvider", "CPUExecutionProvider"]`` when CUDA is usable, else the CPU provider alone.

    Probing never creates a CUDA session on a machine without CUDA, so nothing
    prints CUDA load errors there.
    """
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if _cuda_usable() else ["CPUExecutionProvider"]


class OrtCache:
    """The KV cache between calls of the exported graphs, as torch tensors (the Cache protocol).

    It holds the past in one of two forms. For the general step graph, ``keys``
    and ``values`` are one contiguous tensor per layer: the graph writes each
    call's presents into one of two flat buffers, the one that does not hold the
    past it reads, so a call allocates nothing once the buffers are large enough
    (they grow by doubling, up to ``max_len`` slots). For the decode graph (one new
    position, fused attention), every layer's keys and values live in one buffer
    of ``max_len`` slots that onnxruntime writes in place. The cache moves the
    past between the two forms when the graph changes (one copy).
    """

    def __init__(self) -> None:
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self._spec: CacheSpec | None = None
        self._buffers: list[torch.Tensor] = [torch.empty(0), torch.empty(0)]
        self._max_len: int | None = None
        self._slots = torch.empty(0)  # [2 * layers, B, H, slots, D] for the decode graph: keys, values alternating
        self._in_slots = False  # the past is in _slots (its first _filled positions), not in keys/values
        self._filled = 0

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    @property
    def seq_len(self) -> int:
        if self._in_slots:
            return self._filled
        return self.keys[0].shape[2] if self.keys else 0

    def allocate(self, spec: CacheSpec, *, batch_size: int, max_len: int, dtype: torch.dtype,
                 device: torch.device | str) -> None:
        self._spec, self._max_len, self._in_slots, self._filled = spec, max_len, False, 0
        empty = torch.zeros(batch_size, spec.num_kv_heads, 0, spec.head_dim, dtype=dtype, device=device)
        self.keys = [empty] * spec.num_layers
        self.values = [empty] * spec.num_layers

    def _presents(self, shape: tuple[int, int, int, int], layers: int, dtype: torch.dtype,
                  device: torch.device) -> list[torch.Tensor]:
        """``2 * layers`` contiguous ``shape`` tensors in the buffer the past is not in (keys, values alternating)."""
        # the buffer the past is not in (checked, not remembered: a failed run must not swap them)
        turn = 1 if self.keys and _inside(self.keys[0], self._buffers[0]) else 0
        B, H, S, D = shape
        per_slot = 2 * layers * B * H * D
        buffer = self._buffers[turn]
        if buffer.numel() < per_slot * S or buffer.dtype != dtype or buffer.device != device:
            grown = 2 * (buffer.numel() // per_slot)  # double what it held, within the generation's max_len
            slots = max(S, min(grown, self._max_len or S))
            buffer = self._buffers[turn] = torch.empty(per_slot * slots, dtype=dtype, device=device)
        return list(buffer[: per_slot * S].view(2 * layers, *shape).unbind(0))

    def _slot_buffers(self, shape: tuple[int, int, int, int], layers: int, dtype: torch.dtype,
                      device: torch.device) -> torch.Tensor:
        """The decode graph's ``[2 * layers, B, H, slots, D]`` buffer holding the past, for one more position.

        ``shape`` is ``(B, H, past + 1, D)``. The past moves in from ``keys``/``values``
        if it is there; the buffer is made (or grown) to ``max_len`` slots.
        """
        B, H, needed, D = shape
        buffer = self._slots
        if (buffer.dim() != 5 or buffer.shape[1:3] != (B, H) or buffer.shape[3] < needed or buffer.dtype != dtype
                or buffer.device != device):
            slots = max(needed, self._max_len or needed)
            if buffer.dim() == 5 and buffer.shape[3] < needed:
                slots = max(slots, 2 * buffer.shape[3])
            grown = torch.empty(2 * layers, B, H, slots, D, dtype=dtype, device=device)
            if self._in_slots:
                grown[:, :, :, : self._filled] = buffer[:, :, :, : self._filled]
            self._slots = buffer = grown
        if not self._in_slots:
            past = needed - 1
            for i, (k, v) in enumerate(zip(self.keys, self.values)):
                buffer[2 * i, :, :, :past] = k
                buffer[2 * i + 1, :, :, :past] = v
            self._in_slots, self._filled, self.keys, self.values = True, past, [], []
        return buffer

    def _leave_slots(self) -> None:
        """Move the past out of the decode graph's buffer into contiguous ``keys``/``values``."""
        if self._in_slots:
            n = self._filled
            past = [t[:, :, :n].clone() for t in self._slots.unbind(0)]
            self.keys, self.values, self._in_slots = past[0::2], past[1::2], False

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._leave_slots()
        if not 0 <= layer < len(self.keys):
            raise InputError(f"cache has {len(self.keys)} layers (allocate it first), got layer {layer}")
        self.keys[layer] = torch.cat([self.keys[layer], key], 2)
        self.values[layer] = torch.cat([self.values[layer], value], 2)
        return self.keys[layer], self.values[layer]

    def crop(self, n: int) -> None:
        if not 0 <= n <= self.seq_len:
            raise InputError(f"cannot crop a cache of {self.seq_len} positions to {n}")
        if self._in_slots:  # slots past n are ignored and overwritten
            self._filled = n
            return
        self.keys = [k[:, :, :n] for k in self.keys]
        self.values = [v[:, :, :n] for v in self.values]

    def reorder(self, indices: torch.Tensor) -> None:
        if self._in_slots:
            self._slots = self._slots.index_select(1, indices.to(self._slots.device))
        elif self.keys:
            indices = indices.to(self.keys[0].device)
            self.keys = [k.index_select(0, indices) for k in self.keys]
            self.values = [v.index_select(0, indices) for v in self.values]

    def memory_bytes(self) -> int:
        held = sum(b.numel() * b.element_size() for b in (*self._buffers, self._slots))
        loose = sum(t.numel() * t.element_size() for t in (*self.keys, *self.values)
                    if not any(_inside(t, b) for b in self._buffers))
        return held + loose


def _inside(tensor: torch.Tensor, buffer: torch.Tensor) -> bool:
    if buffer.numel() == 0 or tensor.device != buffer.device:
        return False
    start = buffer.data_ptr()
    return start <= tensor.data_ptr() < start + buffer.numel() * buffer.element_size()


class OrtBackbone(nn.Module):
    """An onnxruntime session over the exported step graph, with the Backbone protocol's surface.

    Its output is the graph's logits (``d_model`` equals ``vocab_size``), which the
    pipeline's pass-through head hands to the sampler.
    """

    def __init__(self, directory: str | os.PathLike[str], manifest: Mapping[str, Any], *,
                 providers: Sequence[Any] | None = None, threads: int | None = None) -> None:
        super().__init__()
        ort = _ort()
        self.directory, self.manifest = Path(directory), dict(manifest)
        geometry = manifest["geometry"]
        self.n_layers, self.n_kv_heads, self.head_dim = (int(geometry[k]) for k in ("num_layers", "num_kv_heads",
                                                                                     "head_dim"))
        self.vocab_size = int(geometry["vocab_size"])
        # a continuous graph takes real vectors and returns its head's raw params instead of logits
        self.input_dim = geometry.get("input_dim")
        self.continuous = self.input_dim is not None
        self.d_model = int(geometry.get("output_dim", self.vocab_size))
        self.max_seq_len = int(geometry["max_seq_len"])
        # the KV cache's dtype: int8 graphs quantise weights only, so their cache stays float32
        self.dtype = torch.float16 if manifest.get("dtype") == "float16" else torch.float32
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        providers = list(providers or default_providers())
        path = self.directory / manifest["graph"]
        self.session = _session(ort, path, options, providers)
        self.providers = self.session.get_providers()
        self.device = torch.device("cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu")
        # The single-position decode graph (fused attention, cache written in place), when exported. onnxruntime's
        # CUDA kernel for the fused attention is float16-only, so a float32 graph on CUDA uses the step graph.
        decode = manifest.get("decode_graph")
        if decode and (self.device.type == "cpu" or self.dtype == torch.float16):
            self.decode_session = _session(ort, self.directory / decode, options, providers)
        else:
            self.decode_session = None
        self.medusa_heads = int(manifest.get("medusa", {}).get("num_heads", 0))
        self.medusa_tokens: torch.Tensor | None = None  # [B, T, heads] of the last call, when the graph has them
        try:
            self.extra_inputs = tuple(ExtraInput(name=e["name"], shape=tuple(e["shape"]), dtype=e["dtype"],
                                                 high=e.get("high")) for e in manifest.get("extra_inputs", ()))
        except (KeyError, TypeError, ArkitError) as exc:
            raise PipelineFormatError(f"{self.directory / MANIFEST}: its extra_inputs are corrupt ({exc}); "
                                      f"export the pipeline again") from None
        self._inputs = input_names(self.n_layers, continuous=self.continuous,
                                   extra=[e.name for e in self.extra_inputs])
        self._outputs = output_names(self.n_layers, continuous=self.continuous, medusa=self.medusa_heads > 0)
        first = self.session.get_outputs()[0].type  # the head's params stay float32 in a float16 graph
        self._out_dtype = torch.float16 if first == "tensor(float16)" else torch.float32
        found = [i.name for i in self.session.get_inputs()]
        if found != self._inputs:
            raise PipelineFormatError(f"{path} does not match its {MANIFEST}: graph inputs {found[:5]}..., "
                                      f"expected {self._inputs[:5]}... ({self.n_layers} layers); export it again")
        self._binding = self.session.io_binding()
        self._bind_input, self._bind_output = _binders(self._binding, self.device, self._inputs[0], self._outputs[0])
        if self.decode_session is not None:
            found = [i.name for i in self.decode_session.get_inputs()]
            if found != self._inputs:
                raise PipelineFormatError(f"{self.directory / decode} does not match its {MANIFEST}: graph inputs "
                                          f"{found[:5]}..., expected {self._inputs[:5]}...; export it again")
            self._decode_binding = self.decode_session.io_binding()
            self._decode_binders = _binders(self._decode_binding, self.device, self._inputs[0], self._outputs[0])
        self._bound_slots: tuple[int, tuple[int, ...]] | None = None  # the slot buffer the decode binding holds
        self.use_decode_graph = self.decode_session is not None
        """Run single-position calls through the decode graph (when there is one); ``False`` uses the step graph."""
        self._all_true = torch.ones(0, dtype=torch.bool, device=self.device)
        self._anchor = nn.Parameter(torch.zeros(0, dtype=self.dtype, device=self.device), requires_grad=False)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"directory": str(self.directory)}

    def cache_spec(self) -> CacheSpec:
        return CacheSpec(num_layers=self.n_layers, num_kv_heads=self.n_kv_heads, head_dim=self.head_dim)

    def forward(self, input_ids: torch.Tensor, *, positions: torch.Tensor, cache: OrtCache | None = None,
                attention_mask: torch.Tensor | None = None, **extra_inputs: torch.Tensor) -> torch.Tensor:
        if not isinstance(cache, OrtCache):
            raise ConfigError("an onnxruntime backbone keeps its state in an arkit.onnx.OrtCache; "
                              "build the pipeline with OrtPipeline.from_pretrained")
        B, T = input_ids.shape[:2]
        past = cache.seq_len
        if past + T > self.max_seq_len:  # positions never exceed slots, so this bounds them too
            raise InputError(f"the exported graph holds at most {self.max_seq_len} positions (max_seq_len), "
                             f"got a past of {past} plus {T} new: shorten the prompt or lower max_new_tokens")
        # ids are checked when they come from outside (a prompt, a draft); one sampled token is in range by construction
        if self.continuous:
            if input_ids.dim() != 3 or input_ids.shape[2] != self.input_dim or not input_ids.is_floating_point():
                raise InputError(f"the exported graph takes real vectors [batch, seq, {self.input_dim}], "
                                 f"got {input_ids.dtype} {list(input_ids.shape)}")
        elif T > 1 or past == 0:
            low, high = (int(v) for v in torch.aminmax(input_ids))
            if low < 0 or high >= self.vocab_size:
                raise InputError(f"token ids must lie in [0, {self.vocab_size}), got {low if low < 0 else high}")
        device = self.device
        if attention_mask is None:  # causal by storage slot, like the torch backbone's default
            if T == 1:  # one new position sees every slot: a view of a buffer of True, nothing to build
                if self._all_true.numel() < B * (past + 1):
                    self._all_true = torch.ones(2 * B * (past + 1), dtype=torch.bool, device=device)
                attention_mask = self._all_true[: B * (past + 1)].view(B, 1, past + 1)
            else:
                slots = torch.arange(past + T, device=input_ids.device)
                attention_mask = (slots[None, :] <= slots[past:, None]).expand(B, T, past + T)
        first = input_ids.to(device, self.dtype) if self.continuous else input_ids.to(device, torch.long)
        feeds = [first, positions.to(device, torch.long), attention_mask.to(device, torch.bool)]
        if extra_inputs or self.extra_inputs:  # most graphs have none: skip the checks (tens of us a step)
            feeds += self._extra_feeds(extra_inputs, B)
        feeds = [t if t.is_contiguous() else t.contiguous() for t in feeds]  # bound by pointer: kept alive until run
        logits = torch.empty(B, T, self.d_model, dtype=self._out_dtype if self.continuous else self.dtype,
                             device=device)
        outputs = [logits]
        if self.medusa_heads:
            self.medusa_tokens = torch.empty(B, T, self.medusa_heads, dtype=torch.long, device=device)
            outputs.append(self.medusa_tokens)
        shape = (B, self.n_kv_heads, past + T, self.head_dim)
        if T == 1 and self.use_decode_graph:
            self._decode(cache, shape, feeds, outputs)
            return logits
        cache._leave_slots()
        for k, v in zip(cache.keys, cache.values):
            feeds += [k.contiguous(), v.contiguous()]  # a cropped past is not contiguous
        presents = cache._presents(shape, self.n_layers, self.dtype, device)
        # one binding, every input and output rebound each call (binding a name again replaces it)
        bind_input, bind_output = self._bind_input, self._bind_output
        for name, tensor in zip(self._inputs, feeds):
            bind_input(name, tensor)
        for name, tensor in zip(self._outputs, outputs + presents):
            bind_output(name, tensor)
        self.session.run_with_iobinding(self._binding)
        cache.keys, cache.values = presents[0::2], presents[1::2]
        return logits

    def _decode(self, cache: OrtCache, shape: tuple[int, int, int, int], feeds: list[torch.Tensor],
                outputs: list[torch.Tensor]) -> None:
        """One position through the decode graph: past and present are the same slot buffer, written in place."""
        slots = cache._slot_buffers(shape, self.n_layers, self.dtype, self.device)
        bind_input, bind_output = self._decode_binders
        n = len(feeds)
        for name, tensor in zip(self._inputs, feeds):
            bind_input(name, tensor)
        for name, tensor in zip(self._outputs, outputs):
            bind_output(name, tensor)
        held = (slots.data_ptr(), tuple(slots.shape))
        if self._bound_slots != held:  # a new buffer: bind it (bindings persist between runs)
            for i, layer in enumerate(slots.unbind(0)):
                bind_input(self._inputs[n + i], layer)
                bind_output(self._outputs[len(outputs) + i], layer)
            self._bound_slots = held
        self.decode_session.run_with_iobinding(self._decode_binding)
        cache._filled += 1

    def _extra_feeds(self, given: Mapping[str, torch.Tensor], batch: int) -> list[torch.Tensor]:
        """The graph's extra inputs, in its order, checked and on the session's device."""
        names = [e.name for e in self.extra_inputs]
        if set(given) != set(names):
            raise InputError(f"the exported graph takes extra inputs {names}, got {sorted(given)}")
        feeds = []
        for spec in self.extra_inputs:
            value = given[spec.name]
            shape = (batch, *spec.shape[1:])
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
                raise InputError(f"extra input {spec.name!r} must have shape {list(shape)}, got "
                                 f"{list(getattr(value, 'shape', ()))}")
            feeds.append(value.to(self.device, self.dtype if spec.dtype == "float32" else torch.long))
        return feeds


def _session(ort: Any, path: Path, options: Any, providers: list[Any]) -> Any:
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot load {path}: {str(exc).strip().splitlines()[0][:300]}") from None


_NUMPY = {torch.float32: np.float32, torch.float16: np.float16, torch.int64: np.int64, torch.bool: np.bool_}


def _binders(binding: Any, device: torch.device, some_input: str, some_output: str) -> tuple[Any, Any]:
    """``bind(name, tensor)`` functions for the binding's inputs and outputs, by pointer.

    onnxruntime's public ``bind_input``/``bind_output`` build a device object in Python on
    every call (about 4.5 us on CPU; a 4-layer step binds 21 tensors). The binding's
    pybind methods underneath take one built once (about 2 us). They are not public API,
    so they are used only after a trial bind succeeds; otherwise the public methods.
    """
    kind, index = ("cuda" if device.type == "cuda" else "cpu"), device.index or 0

    def public(bind: Any) -> Any:
        return lambda name, t: bind(name, kind, index, _NUMPY[t.dtype], tuple(t.shape), t.data_ptr())

    try:
        import onnxruntime

        raw, place = binding._iobinding, onnxruntime.OrtDevice.make(kind, index)._get_c_device()

        def fast_input(name: str, t: torch.Tensor) -> None:
            raw.bind_input(name, place, _NUMPY[t.dtype], t.shape, t.data_ptr())

        def fast_output(name: str, t: torch.Tensor) -> None:
            raw.bind_output(name, place, _NUMPY[t.dtype], t.shape, t.data_ptr())

        trial = torch.zeros(1, device=device)
        fast_input(some_input, trial)
        fast_output(some_output, trial)
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        return fast_input, fast_output
    except Exception:  # another onnxruntime: the documented methods
        return public(binding.bind_input), public(binding.bind_output)


class OrtHead(nn.Module):
    """Passes the graph's logits through: the head already ran inside the exported graph.

    For a continuous graph it turns the graph's ``params`` into the distribution with
    ``distribution``, the method of the (rebuilt, weightless) head that was exported.
    """

    def __init__(self, vocab_size: int, d_model: int | None = None, distribution: Any = None) -> None:
        super().__init__()
        self.vocab_size, self.d_model = vocab_size, vocab_size if d_model is None else d_model
        self._distribution = distribution

    @property
    def config(self) -> Mapping[str, Any]:
        return {"vocab_size": self.vocab_size}

    def forward(self, hidden: torch.Tensor) -> Any:
        return hidden if self._distribution is None else self._distribution(hidden)


class OrtMedusa:
    """Medusa heads exported inside the step graph: drafts are the graph's ``medusa_tokens`` output.

    It drafts what :class:`arkit.drafters.medusa.MedusaHeads` would: head ``i``'s top-1
    guess at each row's last verified position, read from the backbone's last call. The
    graph holds top-1 guesses only, so it drafts chains even for heads with ``tree_width > 1``.
    """

    def __init__(self, backbone: OrtBackbone) -> None:
        self.backbone, self.num_heads = backbone, backbone.medusa_heads
        self.vocab_size = backbone.vocab_size
        self._guesses: torch.Tensor | None = None  # [B, heads]

    @property
    def config(self) -> Mapping[str, Any]:
        return {"num_heads": self.num_heads}

    def start(self, pipe: Pipeline, batch_size: int) -> None:
        if pipe.backbone is not self.backbone:
            raise ConfigError("the exported Medusa heads draft from their own graph's outputs: use them only "
                              "with the pipeline OrtPipeline.from_pretrained built")
        self._guesses = None

    def observe(self, verification: Verification) -> None:
        tokens = self.backbone.medusa_tokens
        assert tokens is not None  # the backbone ran before the loop observes
        n = verification.tokens.shape[1]
        last = verification.accepted if verification.last_kept is None else verification.last_kept
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        self._guesses = tokens[:, -n:][rows, last.to(tokens.device)]

    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        B = tokens.shape[0]
        drafted = torch.zeros(B, k, dtype=torch.long, device=tokens.device)
        n = min(k, self.num_heads)
        if self._guesses is None or self._guesses.shape[0] != B:
            return Draft(tokens=drafted, lengths=torch.zeros(B, dtype=torch.long, device=tokens.device))
        drafted[:, :n] = self._guesses[:, :n].to(tokens.device)
        return Draft(tokens=drafted, lengths=torch.full((B,), n, dtype=torch.long, device=tokens.device))


class OrtPipeline:
    """Loads a folder written by :func:`arkit.onnx.export` as a pipeline that runs in onnxruntime."""

    @staticmethod
    def from_pretrained(directory: str | os.PathLike[str], *, providers: Sequence[Any] | None = None,
                        threads: int | None = None) -> Pipeline:
        """An :class:`arkit.Pipeline` over the exported graph; generation works as with the torch pipeline.

        ``providers`` defaults to :func:`default_providers` (CUDA with IO binding when
        usable, otherwise CPU); ``threads`` to torch's intra-op thread count.
        """
        directory = Path(directory)
        if not directory.is_dir():
            recover_folder(directory)  # an export killed between its two renames leaves the folder aside
        manifest = read_manifest(directory)
        backbone = OrtBackbone(directory, manifest, providers=providers, threads=threads)
        components = {role: load_component(directory, role) for role in manifest["components"]}
        distribution = None
        if backbone.continuous:
            from ..registry import create

            entry = manifest.get("head") or {}
            try:
                distribution = create("head", entry["name"], **entry["config"]).distribution
            except (KeyError, TypeError) as exc:
                raise PipelineFormatError(f"{directory / MANIFEST}: a continuous graph needs its head's name and "
                                          f"config under 'head' ({exc}); export the pipeline again") from None
        head = OrtHead(backbone.vocab_size, backbone.d_model, distribution)
        if backbone.medusa_heads:
            components["drafter"] = OrtMedusa(backbone)
        return Pipeline(head=head, backbone=backbone, cache=OrtCache(), **components)


def read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise PipelineFormatError(f"{directory} is not an exported arkit pipeline: it has no {MANIFEST} "
                                  f"(write one with arkit.onnx.export or `arkit export`)")
    try:
        manifest = json.loads(path.read_text())
        graph, geometry = manifest["graph"], manifest["geometry"]
        version = manifest["format_version"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise PipelineFormatError(f"{path} is corrupt ({exc}): export the pipeline again") from None
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise PipelineFormatError(f"{path} has export format {version!r}; this arkit reads {FORMAT_VERSION}: upgrade")
    for name in (graph, manifest.get("decode_graph"), manifest.get("weights")):
        if name is not None and not (directory / str(name)).is_file():
            raise PipelineFormatError(f"{directory / str(name)} is missing: copy the whole exported folder")
    if not isinstance(geometry, dict):
        raise PipelineFormatError(f"{path}: 'geometry' must be an object; export the pipeline again")
    return manifest
