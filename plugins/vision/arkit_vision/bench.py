"""``arkit vision bench``: accelerated decoding of image tokens, against plain raster decoding.

One trained raster digit model (pixel tokens, sampling at temperature 1, no guidance:
speculative decoding does not combine with guidance yet) generates the same labels with:

- ``plain``: one target call per token;
- ``exact``: a 1-layer draft model and exact speculative sampling (``core/exact``): lossless;
- ``lantern``: the same drafts under LANTERN relaxed acceptance (``core/lantern``): a draft
  pixel level may take the target's probability of its nearest levels, within total
  variation ``delta`` per position; it keeps a draft with probability ``q_d(d)`` and ignores
  the draft model's probabilities;
- ``lantern_ratio``: the same relaxed target with the paper's ratio test
  ``min(1, q_d(d) / p(d))`` (``core/lantern`` with ``ratio_test=True``);
- ``sjd``: Speculative Jacobi Decoding (``core/jacobi(probabilistic=True)`` + ``core/exact``):
  training-free and lossless.

For each: target calls per image (prefill included), wall time per image, draft acceptance,
and the class-conditional accuracy of the samples (by the classifier trained on real digits).
"""

from __future__ import annotations

from typing import Any

import torch

import arkit
from arkit.acceptance.lantern import LanternAcceptance
from arkit.drafters.draft_model import DraftModel

from .datasets import load_digits
from .generate import Samples, sample_raster
from .metrics import DigitJudge
from .recipes import ModelSize, train_draft, train_raster

__all__ = ["benchmark"]


def _row(samples: Samples, judge: DigitJudge, n: int, plain: Samples | None) -> dict[str, Any]:
    row: dict[str, Any] = {"target_calls_per_image": round(samples.model_calls, 2),
                           "ms_per_image": round(1000 * samples.elapsed_s / n, 2),
                           "accuracy": round(judge.accuracy(samples.images), 4)}
    if samples.speculative:
        s = samples.speculative
        row["acceptance_rate"] = round(s["accepted"] / max(1, s["drafted"]), 4)
    if plain is not None:
        row["wall_clock_speedup_vs_plain"] = round(plain.elapsed_s / samples.elapsed_s, 3)
    return row


def benchmark(*, images: int = 100, num_draft_tokens: int = 4, delta: float = 0.4, neighbours: int = 4,
              size: ModelSize = ModelSize(), draft_steps: int = 600, seed: int = 0,
              progress: bool = False) -> dict[str, Any]:
    """Train target and draft model, then decode ``images`` digits (classes in turn) one at a time with each method."""
    torch.set_num_threads(1)
    data = load_digits(seed=seed)
    judge = DigitJudge(data.train, seed=seed)
    target, _ = train_raster(data, size, progress=progress)
    draft = train_draft(data, steps=draft_steps, progress=progress)
    labels = [i % 10 for i in range(images)]
    exact_rule = arkit.create("acceptance", "core/exact")
    near = target.tokenizer.neighbours(neighbours)
    lantern_rule = LanternAcceptance(neighbours=near, delta=delta)
    ratio_rule = LanternAcceptance(neighbours=near, delta=delta, ratio_test=True)
    methods = {
        "plain": target,
        "exact": target.replace(drafter=DraftModel(draft, temperature=1.0, seed=seed), acceptance=exact_rule),
        "lantern": target.replace(drafter=DraftModel(draft, temperature=1.0, seed=seed), acceptance=lantern_rule),
        "lantern_ratio": target.replace(drafter=DraftModel(draft, temperature=1.0, seed=seed), acceptance=ratio_rule),
        "sjd": target.replace(drafter=arkit.create("drafter", "core/jacobi", probabilistic=True), acceptance=exact_rule),
    }
    results: dict[str, Samples] = {}
    for name, pipe in methods.items():
        results[name] = sample_raster(pipe, labels, seed=seed + 1, batch_size=1, num_draft_tokens=num_draft_tokens)
    plain = results["plain"]
    report: dict[str, Any] = {
        "images": images, "batch_size": 1, "num_draft_tokens": num_draft_tokens, "temperature": 1.0,
        "lantern": {"delta": delta, "neighbours": neighbours},
        "real_test_accuracy": round(judge.accuracy(data.test), 4),
        "methods": {name: _row(s, judge, images, None if name == "plain" else plain) for name, s in results.items()},
    }
    exact = results["exact"]
    for name in ("lantern", "lantern_ratio"):
        relaxed = results[name]
        report[f"{name}_vs_exact"] = {
            "target_call_reduction": round(exact.model_calls / relaxed.model_calls, 3),
            "accuracy_change": round(judge.accuracy(relaxed.images) - judge.accuracy(exact.images), 4),
            "wall_clock_speedup": round(exact.elapsed_s / relaxed.elapsed_s, 3),
        }
    report["targets"] = {f"{name}_1.5x_fewer_target_calls_than_exact":
                         report[f"{name}_vs_exact"]["target_call_reduction"] >= 1.5 for name in ("lantern", "lantern_ratio")}
    return report
