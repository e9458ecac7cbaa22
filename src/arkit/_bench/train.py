"""``arkit bench train``: training throughput of ``Pipeline.fit`` against a plain PyTorch loop.

For each size (the small reference model and GPT-2-small dimensions: 12 layers,
d_model 768, vocab 50257), the same weights are trained by (a) ``Pipeline.fit``
(packing, document masks, metrics, clipping, schedule: everything on) and (b) a
minimal hand-written loop (nanoGPT style: random windows, forward, cross-entropy,
backward, clip, AdamW step). Both run ``steps`` optimiser steps per round, rounds
interleaved after an untimed warm-up; medians are reported as target tokens per
second, with the ratio (a) / (b): the cost of arkit's loop over the bare minimum.
Threads are set explicitly (default 1: on small shared CPUs spinning threads fight).
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F

import arkit

from ._common import build_pipeline, interleaved, median
from .decode import SIZES

SHAPES = {"small": {"batch_size": 8, "seq_len": 256}, "gpt2": {"batch_size": 1, "seq_len": 128}}


def _documents(vocab: int, n: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(1, vocab) for _ in range(rng.randint(200, 2000))] for _ in range(n)]


def _plain_loop(pipe: arkit.Pipeline, stream: torch.Tensor, steps: int, batch: int, seq_len: int) -> None:
    params = [p for m in (pipe.backbone, pipe.head) for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    generator = torch.Generator().manual_seed(0)
    offsets = torch.arange(seq_len + 1)
    positions = torch.arange(seq_len).expand(batch, -1)
    for _ in range(steps):
        starts = torch.randint(0, len(stream) - seq_len - 1, (batch,), generator=generator)
        window = stream[starts[:, None] + offsets]
        logits = pipe.head(pipe.backbone(window[:, :-1], positions=positions))
        loss = F.cross_entropy(logits.flatten(0, 1).float(), window[:, 1:].flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()


def run(
    *, sizes: tuple[str, ...] = ("small", "gpt2"), steps: int = 3, repeats: int = 3, threads: int = 1,
    seed: int = 0, progress: Any = None,
) -> dict[str, Any]:
    """Measure and return the benchmark's figures (see the module docstring)."""
    if steps < 1 or repeats < 1 or threads < 1:
        raise arkit.ConfigError(f"steps, repeats and threads must be >= 1, got {steps}, {repeats}, {threads}")
    torch.set_num_threads(threads)
    report: dict[str, Any] = {"benchmark": "train", "threads": threads, "steps_per_round": steps,
                              "repeats": repeats, "torch": torch.__version__, "results": []}
    for size in sizes:
        shape = SHAPES[size]
        pipe = build_pipeline(SIZES[size], seed)
        docs = _documents(SIZES[size]["vocab_size"], 64, seed)
        stream = torch.tensor([t for d in docs for t in d])
        config = arkit.TrainConfig(steps=steps, lr=1e-4, warmup_steps=0, progress=False, threads=threads, **shape)
        tokens = steps * shape["batch_size"] * shape["seq_len"]
        if progress:
            progress(f"bench train: {size} ({pipe.num_parameters:,} parameters), {repeats} rounds of {steps} steps")
        times = interleaved({
            "arkit_fit": lambda: pipe.fit(docs, config),
            "plain_loop": lambda: _plain_loop(pipe, stream, steps, shape["batch_size"], shape["seq_len"]),
        }, repeats)
        fit_s, plain_s = median(times["arkit_fit"]), median(times["plain_loop"])
        report["results"].append({
            "size": size,
            "parameters": pipe.num_parameters,
            **shape,
            "arkit_fit_tokens_per_s": round(tokens / fit_s, 1),
            "plain_loop_tokens_per_s": round(tokens / plain_s, 1),
            "arkit_fit_ms_per_step": round(1000 * fit_s / steps, 2),
            "plain_loop_ms_per_step": round(1000 * plain_s / steps, 2),
            "ratio_to_plain_loop": round(plain_s / fit_s, 3),
        })
    return report
