"""``arkit vision bench``: accelerated decoding of image tokens, against plain raster decoding.

One trained class-conditional raster model (the target) and a 1-layer draft model over the
same tokens generate the same labels, one image at a time, with classifier-free guidance
(speculative decoding verifies every draft against the guided distribution):

- ``plain``: one target call per token;
- ``exact``: the draft model, sampling, with exact speculative sampling (``core/exact``): lossless;
- ``lantern`` (the default LANTERN variant): greedy drafts under LANTERN's relaxed target
  (``core/lantern``): a drafted token may take the target's probability of its latent
  neighbours, within total variation ``delta`` per position; it keeps a draft with probability
  ``q_d(d)``, which for a deterministic draft is exact sampling from ``q_d``: every position stays
  within total variation ``delta`` of the target;
- ``lantern_sampled_draft``: the same rule with sampled drafts (the bound holds too, but it
  accepts less: a sampled draft is less often the target's likely token);
- ``lantern_ratio``: sampled drafts with the paper's ratio test ``min(1, q_d(d) / p(d))``
  (``core/lantern`` with ``ratio_test=True``): no total-variation guarantee;
- ``sjd``: Speculative Jacobi Decoding (``core/jacobi(probabilistic=True)`` + ``core/exact``):
  training-free and lossless.

Two kinds of image tokens (``dataset``):

- ``"shapes"`` (default): 32 x 32 RGB shapes through a learned ``vision/vq`` tokenizer (an 8 x 8
  map of codes); the neighbourhoods are each code's nearest codebook entries. This is the
  setting LANTERN was made for: many codes decode to nearly the same patch, so the target
  spreads its probability over them.
- ``"digits"``: 8 x 8 digits as 17 intensity levels (``vision/pixels``); the neighbourhoods are
  the nearest levels.

For each method: target calls per image (prefill included), wall time per image, draft
acceptance, and the class-conditional accuracy of the samples (by a classifier trained on
real images). ``<method>_vs_exact`` gives, for every LANTERN variant, the target-call reduction next to
its accuracy change; ``targets`` holds the default (TV-bounded) variant to >= 1.3x fewer target calls at
an accuracy drop of at most 0.05.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

import arkit

from .datasets import load_digits, load_shapes
from .generate import Samples, sample_raster
from .metrics import DigitJudge, ImageJudge, shapes_judge
from .recipes import ModelSize, shapes_tokenizer, train_raster, train_vq_raster

__all__ = ["DRAFT_MODEL", "SHAPES_TARGET", "benchmark"]

SHAPES_TARGET = ModelSize(d_model=96, n_layers=3, n_heads=4, steps=1000)
"""The shapes target's size and budget: larger than the eval's shapes model, since a 256-entry codebook is harder."""

DRAFT_MODEL = ModelSize(d_model=32, n_layers=1, n_heads=2, steps=600)
"""The draft model's size and budget (its ``steps`` are the ``draft_steps`` of :func:`benchmark`)."""


def _row(samples: Samples, judge: ImageJudge, n: int, plain: Samples | None) -> dict[str, Any]:
    row: dict[str, Any] = {"target_calls_per_image": round(samples.model_calls, 2),
                           "ms_per_image": round(1000 * samples.elapsed_s / n, 2),
                           "accuracy": round(judge.accuracy(samples.images), 4)}
    if samples.speculative:
        s = samples.speculative
        row["acceptance_rate"] = round(s["accepted"] / max(1, s["drafted"]), 4)
    if plain is not None:
        row["wall_clock_speedup_vs_plain"] = round(plain.elapsed_s / samples.elapsed_s, 3)
    return row


def _models(dataset: str, size: ModelSize | None, draft_steps: int, codebook_size: int, tokenizer_steps: tuple[int, int],
            seed: int, progress: bool) -> tuple[Any, ImageJudge, arkit.Pipeline, arkit.Pipeline, int]:
    """``(test images, judge, target, draft, classes)`` for ``dataset``."""
    draft_size = attrs.evolve(DRAFT_MODEL, steps=draft_steps, seed=seed)
    if dataset == "shapes":
        data = load_shapes(seed=seed)
        judge = shapes_judge(data.train, seed=seed)
        warmup, steps = tokenizer_steps
        tokenizer = shapes_tokenizer(data, codebook_size=codebook_size, warmup_steps=warmup, steps=steps, seed=seed,
                                     progress=progress)
        target, _ = train_vq_raster(data, tokenizer, size or attrs.evolve(SHAPES_TARGET, seed=seed),
                                    progress=progress)
        draft, _ = train_vq_raster(data, tokenizer, draft_size, progress=progress)
        return data.test, judge, target, draft, tokenizer.num_classes
    if dataset == "digits":
        data = load_digits(seed=seed)
        target, _ = train_raster(data, size or ModelSize(seed=seed), progress=progress)
        draft, _ = train_raster(data, draft_size, progress=progress)
        return data.test, DigitJudge(data.train, seed=seed), target, draft, 10
    raise arkit.ConfigError(f"vision bench dataset must be 'shapes' or 'digits', got {dataset!r}")


def benchmark(*, dataset: str = "shapes", images: int = 100, num_draft_tokens: int = 4, delta: float = 0.4,
              neighbours: int = 8, guidance_scale: float = 1.5, codebook_size: int = 256, size: ModelSize | None = None,
              draft_steps: int = 600, tokenizer_steps: tuple[int, int] = (800, 400), seed: int = 0,
              progress: bool = False) -> dict[str, Any]:
    """Train target and draft model on ``dataset``, then decode ``images`` images (classes in turn) one at a
    time with each method. ``codebook_size`` and ``tokenizer_steps`` (autoencoder warm-up, VQ fit) are the
    shapes tokenizer's; ``size`` is the target's (default: the dataset's recipe size)."""
    if images < 1 or num_draft_tokens < 1 or neighbours < 1 or draft_steps < 1:
        raise arkit.ConfigError("vision bench images, num_draft_tokens, neighbours and draft_steps must be >= 1")
    torch.set_num_threads(1)
    test, judge, target, draft, classes = _models(dataset, size, draft_steps, codebook_size, tokenizer_steps, seed,
                                                  progress)
    labels = [i % classes for i in range(images)]
    exact_rule = arkit.create("acceptance", "core/exact")
    near = target.tokenizer.neighbours(neighbours)
    variants = {  # draft temperature (0: greedy), acceptance rule
        "exact": (1.0, exact_rule),
        "lantern": (0.0, arkit.create("acceptance", "core/lantern", neighbours=near, delta=delta)),
        "lantern_sampled_draft": (1.0, arkit.create("acceptance", "core/lantern", neighbours=near, delta=delta)),
        "lantern_ratio": (1.0, arkit.create("acceptance", "core/lantern", neighbours=near, delta=delta,
                                            ratio_test=True)),
    }
    methods = {"plain": target}
    for name, (temperature, rule) in variants.items():
        drafter = arkit.create("drafter", "core/draft-model", pipeline=draft, temperature=temperature, seed=seed)
        methods[name] = target.replace(drafter=drafter, acceptance=rule)
    methods["sjd"] = target.replace(drafter=arkit.create("drafter", "core/jacobi", probabilistic=True),
                                    acceptance=exact_rule)
    results: dict[str, Samples] = {}
    for name, pipe in methods.items():
        results[name] = sample_raster(pipe, labels, guidance_scale=guidance_scale, seed=seed + 1, batch_size=1,
                                      num_draft_tokens=num_draft_tokens)
    plain = results["plain"]
    report: dict[str, Any] = {
        "dataset": dataset, "tokenizer": type(target.tokenizer).__name__, "vocab_size": target.tokenizer.vocab_size,
        "images": images, "batch_size": 1, "num_draft_tokens": num_draft_tokens, "temperature": 1.0,
        "guidance_scale": guidance_scale, "lantern": {"delta": delta, "neighbours": neighbours},
        "real_test_accuracy": round(judge.accuracy(test), 4),
        "methods": {name: _row(s, judge, images, None if name == "plain" else plain) for name, s in results.items()},
    }
    exact = results["exact"]
    for name in ("lantern", "lantern_sampled_draft", "lantern_ratio"):
        relaxed = results[name]
        report[f"{name}_vs_exact"] = {
            "target_call_reduction": round(exact.model_calls / relaxed.model_calls, 3),
            "accuracy_change": round(judge.accuracy(relaxed.images) - judge.accuracy(exact.images), 4),
            "wall_clock_speedup": round(exact.elapsed_s / relaxed.elapsed_s, 3),
            "tv_bound_per_position": None if name == "lantern_ratio" else delta,
        }
    default = report["lantern_vs_exact"]
    report["targets"] = [
        {"name": "lantern (TV bound): target-call reduction vs exact, at least",
         "value": default["target_call_reduction"], "target": 1.3, "met": default["target_call_reduction"] >= 1.3},
        {"name": "lantern (TV bound): accuracy drop vs exact, at most", "value": round(-default["accuracy_change"], 4),
         "target": 0.05, "met": -default["accuracy_change"] <= 0.05},
    ]
    return report
