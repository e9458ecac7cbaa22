"""``arkit bench decode``: decode speed of arkit against transformers' ``generate`` on the same weights.

For each size and batch: a 32-token prompt, 128 new tokens, greedy, for
(a) arkit with the dynamic cache, (b) arkit with the static cache, (c)
``transformers`` ``LlamaForCausalLM.generate`` holding the very same weights
(arkit's ``core/transformer`` is Llama-shaped; the arkit-hf plugin converts it), and
(d) a bare PyTorch greedy loop over the same weights with a preallocated cache
(``_reference.py``): no pipeline, checks or sampler, so its ratio to (c) is the
ceiling any eager loop reaches on this machine, reported next to each target.
Variants run interleaved, round after round, and medians are reported with
ratios to (c). Each run's CPU time in this thread is recorded too: on a shared
machine wall time also counts the time other processes held the core, while CPU
time counts the work done, so ``cpu_ratio`` (arkit against the reference loop, by
median CPU time) is the figure that survives load. Also measured: the
memory-bandwidth floor (weight bytes per step divided by copy bandwidth), bytes
the cache allocates per decode step, and the share of a step spent outside the
model's forward pass.
"""

from __future__ import annotations

import time
from typing import Any
import warnings

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import arkit

from ..registry import get_converter
from . import _reference
from ._common import build_pipeline, interleaved, median, memory_bandwidth_gb_s, weight_bytes_per_token

SIZES: dict[str, dict[str, int]] = {
    "small": {"vocab_size": 512, "d_model": 256, "n_layers": 4, "n_heads": 4, "ffn_hidden": 704},
    "gpt2": {"vocab_size": 50257, "d_model": 768, "n_layers": 12, "n_heads": 12, "ffn_hidden": 2048},
}
TARGETS = {  # (size, batch): minimum tokens/s ratio of the best arkit variant to transformers
    ("small", 1): 2.0,
    ("small", 8): 1.5,
    ("gpt2", 1): 1.2,
    ("gpt2", 8): 1.0,
}
REFERENCE_TARGETS = {  # (size, batch): minimum tokens/s ratio of the best arkit variant to the bare reference loop
    ("small", 1): 0.95,
    ("small", 8): 0.95,
}


class _AllocationCounter(TorchDispatchMode):
    """Counts bytes of tensors created with fresh storage (views and in-place writes allocate nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in _tensors((args, kwargs))}
        for tensor in _tensors(out):
            if tensor.untyped_storage().data_ptr() not in inputs:
                inputs.add(tensor.untyped_storage().data_ptr())
                self.bytes += tensor.untyped_storage().nbytes()
        return out


def _tensors(tree: Any) -> list[torch.Tensor]:
    from torch.utils._pytree import tree_leaves

    return [x for x in tree_leaves(tree) if isinstance(x, torch.Tensor)]


def _cache_bytes_per_step(pipe: arkit.Pipeline, prompts: list[list[int]], steps: int) -> int:
    """Bytes allocated inside ``cache.update`` per decode step (prefill excluded)."""
    cache, counter, calls = pipe.cache, _AllocationCounter(), [0]
    original = cache.update
    layers = pipe.backbone.cache_spec().num_layers

    def update(layer: int, key: torch.Tensor, value: torch.Tensor) -> Any:
        calls[0] += 1
        if calls[0] <= layers:  # the prefill stores the prompt: not a decode step
            return original(layer, key, value)
        with counter:
            return original(layer, key, value)

    cache.update = update
    try:
        pipe.generate(prompt_ids=prompts, max_new_tokens=steps, eos_token_ids=())
    finally:
        del cache.update
    return counter.bytes // max(1, calls[0] // layers - 1)


def _outside_forward_share(pipe: arkit.Pipeline, prompts: list[list[int]], new_tokens: int) -> float:
    """Share of generation wall time spent outside ``backbone`` + ``head`` forward calls."""
    inside = [0.0]
    backbone, head = pipe.backbone, pipe.head

    def timed(module: torch.nn.Module) -> Any:
        forward = module.forward

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            out = forward(*args, **kwargs)
            inside[0] += time.perf_counter() - start
            return out

        return wrapper

    shares = []
    for _ in range(3):
        inside[0] = 0.0
        backbone.forward, head.forward = timed(backbone), timed(head)
        try:
            start = time.perf_counter()
            pipe.generate(prompt_ids=prompts, max_new_tokens=new_tokens, eos_token_ids=())
            total = time.perf_counter() - start
        finally:
            del backbone.forward, head.forward
        shares.append(1.0 - inside[0] / total)
    return sorted(shares)[1]


def run(
    *,
    sizes: tuple[str, ...] = ("small", "gpt2"),
    batches: tuple[int, ...] = (1, 8),
    prompt_tokens: int = 32,
    new_tokens: int = 128,
    repeats: int = 5,
    threads: int = 1,
    seed: int = 0,
    progress: Any = None,
    _dims_override: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Measure and return the benchmark's figures (see the module docstring).

    ``_dims_override`` (tests only) replaces every size's dimensions, so a smoke
    test runs in seconds.
    """
    try:
        to_llama = get_converter("hf/llama")  # registered by arkit-hf; arkit imports no plugin
    except arkit.UnknownComponentError as exc:
        raise arkit.ConfigError("the decode benchmark compares with transformers: install arkit-hf (plugins/hf)") from exc
    torch.set_num_threads(threads)
    bandwidth = memory_bandwidth_gb_s()
    report: dict[str, Any] = {
        "benchmark": "decode",
        "threads": threads,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "torch": torch.__version__,
        "memory_bandwidth_gb_s": round(bandwidth, 2),
        "results": [],
        "floor": {},
        "arkit_over_reference_loop": [],
        "targets": [],
    }
    for size in sizes:
        dims = dict(_dims_override) if _dims_override is not None else SIZES[size]
        pipe = build_pipeline(dims, seed)
        dynamic = pipe.replace(cache=arkit.create("cache", "core/dynamic"))
        static = pipe.replace(cache=arkit.create("cache", "core/static"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hf = to_llama(pipe.backbone, pipe.head)
        weight_bytes = weight_bytes_per_token(pipe.backbone, pipe.head)
        floor_ms = weight_bytes / (bandwidth * 1e9) * 1e3
        report["floor"][size] = {
            "weight_bytes_per_step": weight_bytes,
            "floor_ms_per_step": round(floor_ms, 3),
            "parameters": pipe.num_parameters,
        }
        for batch in batches:
            if progress:
                progress(f"decode: {size}, batch {batch}")
            generator = torch.Generator().manual_seed(seed + batch)
            prompts = torch.randint(1, dims["vocab_size"], (batch, prompt_tokens), generator=generator)
            ids = prompts.tolist()

            def hf_generate() -> Any:
                with warnings.catch_warnings(), torch.inference_mode():
                    warnings.simplefilter("ignore")
                    return hf.generate(prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=new_tokens,
                                       min_new_tokens=new_tokens, do_sample=False, pad_token_id=0, eos_token_id=None)

            variants = {
                "arkit-dynamic": lambda: dynamic.generate(prompt_ids=ids, max_new_tokens=new_tokens, eos_token_ids=()),
                "arkit-static": lambda: static.generate(prompt_ids=ids, max_new_tokens=new_tokens, eos_token_ids=()),
                "transformers": hf_generate,
                "reference-loop": lambda: _reference.greedy(pipe.backbone, pipe.head, prompts, new_tokens),
            }
            # the same greedy tokens from all four, or the comparison would be meaningless
            reference = hf_generate()[:, prompt_tokens:].tolist()
            for name in ("arkit-dynamic", "arkit-static", "reference-loop"):
                out = variants[name]()
                got = out.tolist() if isinstance(out, torch.Tensor) else [list(s) for s in out.sequences]
                if got != reference:
                    raise arkit.GenerationError(f"{name} and transformers disagree on greedy tokens ({size}, batch {batch})")
            cpu: dict[str, list[float]] = {}
            times = interleaved(variants, repeats if size == "small" else max(2, repeats // 2), cpu=cpu)
            base = median(times["transformers"])
            for name, samples in times.items():
                seconds = median(samples)
                report["results"].append({
                    "size": size, "batch": batch, "variant": name,
                    "tokens_per_s": round(batch * new_tokens / seconds, 1),
                    "ms_per_step": round(seconds / new_tokens * 1e3, 3),
                    "ratio_to_transformers": round(base / seconds, 3),
                    "samples_s": [round(s, 4) for s in samples],
                    "cpu_ms_per_step": round(median(cpu[name]) / new_tokens * 1e3, 3),
                })
            best = max(base / median(times[n]) for n in ("arkit-dynamic", "arkit-static"))
            fastest = min(median(times[n]) for n in ("arkit-dynamic", "arkit-static"))
            over_reference = median(times["reference-loop"]) / fastest
            cpu_over_reference = median(cpu["reference-loop"]) / min(median(cpu[n]) for n in ("arkit-dynamic",
                                                                                               "arkit-static"))
            report["arkit_over_reference_loop"].append({"size": size, "batch": batch,
                                                        "ratio": round(over_reference, 3),
                                                        "cpu_ratio": round(cpu_over_reference, 3)})
            if (size, batch) in TARGETS:
                report["targets"].append({
                    "name": f"{size} batch {batch}: arkit / transformers tokens/s",
                    "value": round(best, 3), "target": TARGETS[(size, batch)], "met": best >= TARGETS[(size, batch)],
                    "ceiling": round(base / median(times["reference-loop"]), 3),  # the bare loop's ratio
                })
            if (size, batch) in REFERENCE_TARGETS:
                report["targets"].append({
                    "name": f"{size} batch {batch}: arkit / reference-loop tokens/s",
                    "value": round(over_reference, 3), "target": REFERENCE_TARGETS[(size, batch)],
                    "met": over_reference >= REFERENCE_TARGETS[(size, batch)],
                    "cpu_value": round(cpu_over_reference, 3),  # by CPU time: the figure to read on a loaded machine
                })
            if batch == 1:
                step_ms = median(times["arkit-static"]) / new_tokens * 1e3
                report["floor"][size]["arkit_static_over_floor"] = round(step_ms / floor_ms, 2)
                reference_ms = median(times["reference-loop"]) / new_tokens * 1e3
                report["floor"][size]["reference_loop_over_floor"] = round(reference_ms / floor_ms, 2)
                if size == "gpt2":
                    report["targets"].append({"name": "gpt2 batch 1: within 2x of the bandwidth floor",
                                              "value": round(step_ms / floor_ms, 2), "target": 2.0,
                                              "met": step_ms / floor_ms <= 2.0})
        if size == "small":
            generator = torch.Generator().manual_seed(seed)
            ids = torch.randint(1, dims["vocab_size"], (1, prompt_tokens), generator=generator).tolist()
            share = _outside_forward_share(static, ids, new_tokens)
            report["overhead"] = {"small_batch1_share_outside_forward": round(share, 3)}
            report["targets"].append({"name": "small batch 1: share of a step outside the forward",
                                      "value": round(share, 3), "target": 0.15, "met": share < 0.15})
            report["cache_bytes_allocated_per_decode_step"] = {
                "core/dynamic": _cache_bytes_per_step(dynamic, ids, 16),
                "core/static": _cache_bytes_per_step(static, ids, 16),
            }
            static_bytes = report["cache_bytes_allocated_per_decode_step"]["core/static"]
            report["targets"].append({"name": "static cache: bytes allocated by the cache per decode step",
                                      "value": static_bytes, "target": 0, "met": static_bytes == 0})
    return report


