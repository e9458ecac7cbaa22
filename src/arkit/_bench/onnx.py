"""``arkit bench onnx``: decode speed of :class:`arkit.onnx.OrtPipeline` against the torch pipeline on the same weights.

For each size (the same pipelines as ``arkit bench decode``: the small reference
size and GPT-2-small dimensions) the pipeline is exported with
:func:`arkit.onnx.export` into a temporary folder (export time and the parity
figures of its validation are reported), loaded with
:meth:`arkit.onnx.OrtPipeline.from_pretrained`, and then for each batch a
32-token prompt is continued by 128 greedy tokens with (a) the torch pipeline
with ``core/static``, (b) the torch pipeline with ``core/dynamic``, (c) the
OrtPipeline (``ort``: decode steps through the fused decode graph, when the
export has one) and (d) the same OrtPipeline with every call through the step
graph (``ort-step-graph``, only when there is a decode graph). All must produce
identical tokens (otherwise :class:`arkit.GenerationError`); they run
interleaved, round after round, and medians are reported with the ratio of each
to the faster torch variant; the targets are ``ort``'s. The
time inside onnxruntime's ``run_with_iobinding`` is measured too (``session``):
the rest of an ORT step is binding and the generation loop, which the torch
pipeline runs as well. For
GPT-2 dimensions the memory-bandwidth floor (weight bytes per step divided by
copy bandwidth) is reported with ORT's step time over it. The temporary folders
are deleted at the end.

The comparison runs on the CPU: torch on the CPU, onnxruntime with its CPU
execution provider, both with ``threads`` intra-op threads.

With ``peers`` (the default) and onnxruntime-genai installed, the same weights
also run in onnxruntime-genai's own ``Generator`` (its loop, its KV cache, the
same ``threads``), interleaved with the variants above and under ``peers`` in the
report: (a) ``genai-arkit-export``, the folder :func:`arkit.onnx.export_genai`
writes, and (b) ``genai-builder``, onnxruntime-genai's model builder run on a
Hugging Face Llama folder that ``arkit_hf.save_llama`` writes from the weights
(fp32, CPU; skipped, with the reason, when arkit-hf or the builder fails). Each peer's
greedy tokens are compared with torch's, and for (a) and (b) the targets compare
``ort`` with the peer; ``where_time_goes`` splits an ``ort`` step into the time
inside onnxruntime's session and the rest (binding and arkit's loop).
``ort-prompt-lookup`` adds speculative decoding with ``core/prompt-lookup``
through the same OrtPipeline (its tokens must be torch's too). onnxruntime-genai
stops only at an eos id, which must be a valid id: it is set to an id that neither
the prompts nor torch's tokens contain, so every run generates ``new_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
import json
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch

import arkit

from ..registry import get_converter
from ..testing import register_id_tokenizer
from ._common import build_pipeline, interleaved, median, memory_bandwidth_gb_s, weight_bytes_per_token
from .decode import SIZES

TARGETS = {  # (size, batch): minimum tokens/s ratio of OrtPipeline to the faster torch variant
    ("small", 1): 1.6,
    ("small", 8): 1.1,
}
FLOOR_TARGET = ("gpt2", 1, 1.5)  # size, batch, most ORT ms/step over the bandwidth floor
PEER_TARGETS = {("small", 1): 1.0, ("small", 8): 1.0}  # minimum tokens/s ratio of OrtPipeline to onnxruntime-genai
PEERS = ("genai-arkit-export", "genai-builder")
PROVIDERS = ["CPUExecutionProvider"]


class _TimedSession:
    """Stands in for an onnxruntime session and adds up the seconds spent in ``run_with_iobinding``."""

    def __init__(self, session: Any) -> None:
        self.session, self.seconds = session, 0.0

    def lap(self) -> float:
        """Seconds since the last lap."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds

    def run_with_iobinding(self, binding: Any) -> None:
        start = time.perf_counter()
        self.session.run_with_iobinding(binding)
        self.seconds += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


def run(
    *,
    sizes: tuple[str, ...] = ("small", "gpt2"),
    batches: tuple[int, ...] = (1, 8),
    prompt_tokens: int = 32,
    new_tokens: int = 128,
    repeats: int = 5,
    threads: int = 1,
    seed: int = 0,
    peers: bool = True,
    progress: Any = None,
    _dims_override: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Measure and return the benchmark's figures (see the module docstring).

    ``_dims_override`` (tests only) replaces every size's dimensions, so a smoke
    test runs in seconds.
    """
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        raise arkit.ConfigError(f"unknown size(s) {unknown}; sizes are {list(SIZES)}")
    try:
        import onnxruntime
    except ImportError as exc:
        raise arkit.ConfigError("the ONNX benchmark needs onnx, onnxscript and onnxruntime: "
                                "pip install onnx onnxscript onnxruntime") from exc
    from arkit.onnx import OrtPipeline, export

    torch.set_num_threads(threads)
    bandwidth = memory_bandwidth_gb_s()
    report: dict[str, Any] = {
        "benchmark": "onnx",
        "threads": threads,
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "repeats": repeats,
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "memory_bandwidth_gb_s": round(bandwidth, 2),
        "providers": {},
        "export": {},
        "results": [],
        "identical_tokens": {},
        "session": {},
        "floor": {},
        "targets": [],
    }
    genai = _genai_version() if peers else None
    if peers:
        report["peers"] = {"onnxruntime_genai": genai, "build": {}, "results": [], "identical_tokens": {},
                           "targets": [], "where_time_goes": {}, "skipped": {}}
        if genai is None:
            report["peers"]["skipped"]["all"] = "onnxruntime-genai is not installed: " + _genai_install()
    workdir = Path(tempfile.mkdtemp(prefix="arkit-bench-onnx-"))
    try:
        for size in sizes:
            dims = dict(_dims_override) if _dims_override is not None else SIZES[size]
            pipe = build_pipeline(dims, seed)
            static = pipe.replace(cache=arkit.create("cache", "core/static"))
            dynamic = pipe.replace(cache=arkit.create("cache", "core/dynamic"))
            if progress:
                progress(f"onnx: exporting {size} ({pipe.num_parameters:,} parameters)")
            with register_id_tokenizer("arkit-bench-onnx"):
                exported = export(pipe, workdir / size)
                ort = OrtPipeline.from_pretrained(exported.directory, providers=PROVIDERS, threads=threads)
            timed = [_TimedSession(ort.backbone.session)]
            ort.backbone.session = timed[0]
            fused = ort.backbone.decode_session is not None
            if fused:  # single positions run through the decode graph
                timed.append(_TimedSession(ort.backbone.decode_session))
                ort.backbone.decode_session = timed[1]
            provider = ort.backbone.providers[0]
            report["providers"][size] = provider
            report["export"][size] = {
                "export_s": exported.export_s,
                "opset": exported.opset,
                "dtype": exported.dtype,
                "parameters": pipe.num_parameters,
                "graph_bytes": sum(p.stat().st_size for pattern in ("model.onnx*", "decode.onnx*", "weights.onnx.data")
                                   for p in exported.directory.glob(pattern)),
                "decode_graph": fused,
                "max_abs_logit_diff": exported.max_abs_logit_diff,
                "cases": list(exported.cases),
            }
            weight_bytes = weight_bytes_per_token(pipe.backbone, pipe.head)
            floor_ms = weight_bytes / (bandwidth * 1e9) * 1e3
            report["floor"][size] = {
                "weight_bytes_per_step": weight_bytes,
                "floor_ms_per_step": round(floor_ms, 3),
            }
            rounds = repeats if size == "small" else max(2, repeats // 2)
            peer_dirs = _build_peers(pipe, workdir / f"{size}-peers", report["peers"], size, progress) \
                if peers and genai is not None else {}
            for batch in batches:
                if progress:
                    progress(f"onnx: {size}, batch {batch}")
                generator = torch.Generator().manual_seed(seed + batch)
                ids = torch.randint(1, dims["vocab_size"], (batch, prompt_tokens), generator=generator).tolist()

                def generate(p: arkit.Pipeline, ids: list[list[int]] = ids) -> Any:
                    return p.generate(prompt_ids=ids, max_new_tokens=new_tokens, eos_token_ids=())

                laps: list[float] = []  # seconds inside the session, per ORT generation

                def generate_ort() -> Any:
                    for t in timed:
                        t.lap()
                    out = generate(ort)
                    laps.append(sum(t.lap() for t in timed))
                    return out

                def generate_ort_step_graph() -> Any:  # every call through the general step graph
                    ort.backbone.use_decode_graph = False
                    try:
                        return generate(ort)
                    finally:
                        ort.backbone.use_decode_graph = True

                variants = {
                    "torch-static": lambda: generate(static),
                    "torch-dynamic": lambda: generate(dynamic),
                    "ort": generate_ort,
                }
                if fused:
                    variants["ort-step-graph"] = generate_ort_step_graph
                # the same greedy tokens from every variant, or the comparison would be meaningless
                tokens = {name: [list(s) for s in fn().sequences] for name, fn in variants.items()}
                same = all(t == tokens["torch-static"] for t in tokens.values())
                report["identical_tokens"][f"{size} batch {batch}"] = same
                if not same:
                    raise arkit.GenerationError(
                        f"OrtPipeline and the torch pipeline disagree on greedy tokens ({size}, batch {batch})")
                peer_variants = _peer_variants(peer_dirs, ids, tokens["torch-static"], new_tokens, threads,
                                               report["peers"], f"{size} batch {batch}") if peer_dirs else {}
                if peer_dirs:  # speculative decoding through the same OrtPipeline, against the peers' plain decoding
                    lookup = ort.replace(drafter=arkit.create("drafter", "core/prompt-lookup", max_ngram=3,
                                                              min_ngram=1))
                    peer_variants["ort-prompt-lookup"] = lambda: generate(lookup)
                    looked = [list(s) for s in peer_variants["ort-prompt-lookup"]().sequences]
                    report["peers"]["identical_tokens"][f"{size} batch {batch} ort-prompt-lookup"] = (
                        looked == tokens["torch-static"])
                    if looked != tokens["torch-static"]:
                        raise arkit.GenerationError(f"OrtPipeline with prompt lookup is not lossless under greedy "
                                                    f"decoding ({size}, batch {batch})")
                times = interleaved({**variants, **peer_variants}, rounds)
                best_torch = min(median(times["torch-static"]), median(times["torch-dynamic"]))
                for name, samples in times.items():
                    seconds = median(samples)
                    peer = name in peer_variants
                    (report["peers"]["results"] if peer else report["results"]).append({
                        "size": size, "batch": batch, "variant": name,
                        "provider": ("onnxruntime-genai-cpu" if name.startswith("genai") else
                                     provider if name.startswith("ort") else "torch-cpu"),
                        "tokens_per_s": round(batch * new_tokens / seconds, 1),
                        "ms_per_step": round(seconds / new_tokens * 1e3, 3),
                        "ratio_to_best_torch": round(best_torch / seconds, 3),
                        "samples_s": [round(s, 4) for s in samples],
                    })
                ratio = best_torch / median(times["ort"])
                session_s = median(laps[-rounds:])
                report["session"][f"{size} batch {batch}"] = {
                    "ms_per_step": round(session_s / new_tokens * 1e3, 3),
                    "share_of_ort_step": round(session_s / median(times["ort"]), 3),
                }
                if peer_variants:
                    _peer_targets(report["peers"], times, size, batch, session_s, new_tokens)
                if (size, batch) in TARGETS:
                    target = TARGETS[(size, batch)]
                    report["targets"].append({
                        "name": f"{size} batch {batch}: OrtPipeline / torch tokens/s",
                        "value": round(ratio, 3), "target": target, "met": ratio >= target,
                    })
                if batch == 1:
                    ort_ms = median(times["ort"]) / new_tokens * 1e3
                    torch_ms = best_torch / new_tokens * 1e3
                    report["floor"][size]["ort_over_floor"] = round(ort_ms / floor_ms, 2)
                    report["floor"][size]["torch_over_floor"] = round(torch_ms / floor_ms, 2)
                    if (size, batch) == FLOOR_TARGET[:2]:
                        limit = FLOOR_TARGET[2]
                        report["targets"].append({
                            "name": f"{size} batch 1: OrtPipeline within {limit}x of the bandwidth floor",
                            "value": round(ort_ms / floor_ms, 2), "target": limit, "met": ort_ms / floor_ms <= limit,
                        })
            del ort, timed, pipe, static, dynamic
            shutil.rmtree(workdir / size, ignore_errors=True)
            shutil.rmtree(workdir / f"{size}-peers", ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _genai_version() -> str | None:
    try:
        import onnxruntime_genai
    except ImportError:
        return None
    return str(getattr(onnxruntime_genai, "__version__", "unknown"))


def _genai_install() -> str:
    from arkit.onnx.genai import INSTALL

    return INSTALL


def _build_peers(pipe: arkit.Pipeline, workdir: Path, peers: dict[str, Any], size: str,
                 progress: Any) -> dict[str, Path]:
    """The peers' model folders from ``pipe``'s weights: (a) arkit's genai export, (b) onnxruntime-genai's builder
    on a Hugging Face Llama folder. A peer that cannot be built is skipped, with the reason in the report."""
    from arkit.onnx import export_genai

    found: dict[str, Path] = {}
    build: dict[str, Any] = peers["build"].setdefault(size, {})
    if progress:
        progress(f"onnx: {size}, onnxruntime-genai peers")
    started = time.perf_counter()
    try:  # validated by the benchmark's own token comparison below, on its own prompts
        export_genai(pipe, workdir / "arkit-export", validate=False)
        found["genai-arkit-export"] = workdir / "arkit-export"
        build["genai-arkit-export"] = {"export_s": round(time.perf_counter() - started, 2)}
    except arkit.ArkitError as exc:
        peers["skipped"][f"{size} genai-arkit-export"] = str(exc)
    try:
        build["genai-builder"] = {"build_s": _run_builder(pipe, workdir)}
        found["genai-builder"] = workdir / "builder"
    except (ImportError, arkit.ArkitError, OSError, subprocess.SubprocessError) as exc:
        peers["skipped"][f"{size} genai-builder"] = f"{type(exc).__name__}: {exc}"[:500]
    return found


def _run_builder(pipe: arkit.Pipeline, workdir: Path) -> float:
    """Write the weights as a Hugging Face Llama folder with ``arkit_hf.save_llama`` (``to_llama`` plus a word-level
    tokenizer, which the builder needs) and run ``python -m onnxruntime_genai.models.builder`` on it (fp32, CPU)
    into ``workdir/builder``; its wall time."""
    import contextlib
    import io

    save_llama = get_converter("hf/llama-folder")  # registered by arkit-hf; arkit imports no plugin

    hf = workdir / "hf"
    with contextlib.redirect_stderr(io.StringIO()):  # transformers' progress bars
        save_llama(pipe.backbone, pipe.head, hf, tokenizer=pipe.tokenizer)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "onnxruntime_genai.models.builder", "-m", "llama", "-i", str(hf),
                           "-o", str(workdir / "builder"), "-p", "fp32", "-e", "cpu", "-c", str(workdir / "cache")],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise arkit.ExportError(f"onnxruntime-genai's builder failed: {' | '.join(tail)[:400]}")
    return round(time.perf_counter() - started, 2)


def _peer_variants(dirs: Mapping[str, Path], ids: list[list[int]], expected: list[list[int]], new_tokens: int,
                   threads: int, peers: dict[str, Any], key: str) -> dict[str, Any]:
    """A timed callable per peer that generates the same continuations; each peer's tokens are compared with
    torch's first (recorded, not enforced: a peer that disagrees is reported and timed all the same)."""
    from arkit.onnx.genai import genai_greedy, load_model, unused_token

    variants = {}
    for name, directory in dirs.items():
        vocab = json.loads((directory / "genai_config.json").read_text())["model"]["vocab_size"]
        stop = unused_token(vocab, *ids, *expected)  # an id this generation never reaches: full length
        model = load_model(directory, threads=threads, overlay={"model": {"eos_token_id": 0 if stop is None else stop}})

        def run(model: Any = model) -> list[list[int]]:
            return genai_greedy(model, ids, new_tokens, pad=0)

        peers["identical_tokens"][f"{key} {name}"] = run() == expected
        variants[name] = run
    return variants


def _peer_targets(peers: dict[str, Any], times: Mapping[str, list[float]], size: str, batch: int,
                  session_s: float, new_tokens: int) -> None:
    """OrtPipeline against each peer, and where an OrtPipeline step's time goes."""
    ort_s = median(times["ort"])
    per_step = {"ort_ms_per_step": round(ort_s / new_tokens * 1e3, 3),
                "ort_session_ms_per_step": round(session_s / new_tokens * 1e3, 3),
                "ort_loop_ms_per_step": round((ort_s - session_s) / new_tokens * 1e3, 3)}
    for name in PEERS:
        if name in times:
            per_step[f"{name}_ms_per_step"] = round(median(times[name]) / new_tokens * 1e3, 3)
            ratio = median(times[name]) / ort_s
            if (size, batch) in PEER_TARGETS:
                peers["targets"].append({"name": f"{size} batch {batch}: OrtPipeline / {name} tokens/s",
                                         "value": round(ratio, 3), "target": PEER_TARGETS[(size, batch)],
                                         "met": ratio >= PEER_TARGETS[(size, batch)]})
    if "ort-prompt-lookup" in times:
        for name in PEERS:
            if name in times:
                per_step[f"ort_prompt_lookup_over_{name}"] = round(median(times[name]) /
                                                                   median(times["ort-prompt-lookup"]), 3)
    peers["where_time_goes"][f"{size} batch {batch}"] = per_step
