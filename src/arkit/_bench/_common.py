"""Measurement helpers shared by the benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
import statistics
import time
from typing import Any

import torch

from ..tokenizers.ids import IdTokenizer


def build_pipeline(dims: Mapping[str, int], seed: int) -> Any:
    """A seeded ``core/transformer`` + ``core/categorical`` pipeline over raw ids, of the given dimensions."""
    import arkit

    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", max_seq_len=512, **dims)
    head = arkit.create("head", "core/categorical", d_model=dims["d_model"], vocab_size=dims["vocab_size"])
    return arkit.Pipeline(tokenizer=IdTokenizer(dims["vocab_size"]), backbone=backbone, head=head)


def interleaved(variants: Mapping[str, Callable[[], Any]], repeats: int,
                cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Run every variant once per round, ``repeats`` rounds, after one untimed warm-up round; return wall seconds.

    With ``cpu`` (a dict), each run's CPU seconds in this thread are appended to ``cpu[name]`` too: on a shared
    machine wall time also counts the time other processes held the core, CPU time only the work done.
    """
    for fn in variants.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    if cpu is not None:
        cpu.update({name: [] for name in variants})
    for _ in range(repeats):
        for name, fn in variants.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            fn()
            times[name].append(time.perf_counter() - start)
            if cpu is not None:
                cpu[name].append(time.thread_time() - start_cpu)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def memory_bandwidth_gb_s(megabytes: int = 256, repeats: int = 7) -> float:
    """Copy bandwidth (bytes read + written per second) of a large buffer, median of ``repeats``."""
    n = megabytes * 1024 * 1024 // 4
    src, dst = torch.ones(n), torch.empty(n)
    dst.copy_(src)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        dst.copy_(src)
        samples.append(2 * n * 4 / (time.perf_counter() - start))
    return statistics.median(samples) / 1e9


def weight_bytes_per_token(*modules: torch.nn.Module) -> int:
    """Bytes of weights a decode step must read: every parameter except embedding tables (a row each)."""
    total = 0
    for module in modules:
        for sub in module.modules():
            for name, param in sub.named_parameters(recurse=False):
                if isinstance(sub, torch.nn.Embedding):
                    continue
                total += param.numel() * param.element_size()
    return total
