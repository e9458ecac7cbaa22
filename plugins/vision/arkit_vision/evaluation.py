"""``arkit vision eval``: train the digit models briefly and measure them against real digits.

Every number is printed next to its reference: sample accuracy next to real test accuracy,
the Frechet distance next to its train-vs-test floor, the near-copy rate next to real test
digits' own rate, and held-out bits per pixel next to a per-class independent-pixel model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .datasets import DigitsSplit, load_digits
from .generate import Samples, image_bits, sample_next_scale, sample_raster
from .image import Image
from .metrics import DigitJudge, frechet_distance, independent_pixel_bits, near_copy_rate
from .msvq import MultiScaleVQTokenizer
from .recipes import ModelSize, train_next_scale, train_raster
from .vq import VQTokenizer

__all__ = ["evaluate", "sample_quality"]


def sample_quality(samples: Sequence[Image], data: DigitsSplit, judge: DigitJudge) -> dict[str, float]:
    """Class-conditional accuracy, Frechet distance (and its floor: as many real training digits vs the
    test digits), and the near-copy rate of labelled samples."""
    n = min(len(samples), len(data.train))
    floor = frechet_distance(judge.features(data.train[:n]), judge.features(data.test))
    fd = frechet_distance(judge.features(samples), judge.features(data.test))
    rate, threshold = near_copy_rate(samples, data.train, data.test)
    return {"accuracy": round(judge.accuracy(samples), 4), "frechet_distance": round(fd, 4),
            "frechet_floor": round(floor, 4), "fd_over_floor": round(fd / floor, 3),
            "near_copy_rate": round(rate, 4), "near_copy_threshold": round(threshold, 3)}


def _timing(samples: Samples, n: int) -> dict[str, float]:
    return {"model_calls_per_image": samples.model_calls, "ms_per_image": round(1000 * samples.elapsed_s / n, 3)}


def evaluate(*, samples: int = 500, guidance_scale: float = 1.25, temperature: float = 1.0,
             size: ModelSize = ModelSize(), seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """Train the raster and next-scale digit models, sample ``samples`` images of each (classes in turn), measure."""
    torch.set_num_threads(1)
    data = load_digits(seed=seed)
    judge = DigitJudge(data.train, seed=seed)
    labels = [i % 10 for i in range(samples)]

    raster, raster_fit = train_raster(data, size, progress=progress)
    bpp = image_bits(raster, data.test)
    baseline = independent_pixel_bits(data.train, data.test)
    guided = sample_raster(raster, labels, guidance_scale=guidance_scale, temperature=temperature, seed=seed + 1)
    plain = sample_raster(raster, labels, guidance_scale=1.0, temperature=temperature, seed=seed + 1)

    scales, scales_fit = train_next_scale(data, size, progress=progress)
    tokenizer: MultiScaleVQTokenizer = scales.tokenizer
    single = VQTokenizer(codebook_size=tokenizer.codebook_size, seed=seed)
    single.fit(data.train, steps=400)
    ns_guided = sample_next_scale(scales, labels, tokenizer.schedule, guidance_scale=guidance_scale,
                                  temperature=temperature, seed=seed + 1)
    ns_plain = sample_next_scale(scales, labels, tokenizer.schedule, guidance_scale=1.0, temperature=temperature,
                                 seed=seed + 1)

    raster_q = sample_quality(guided.images, data, judge)
    real_copies, _ = near_copy_rate(data.test, data.train, data.valid)
    report: dict[str, Any] = {
        "data": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test), "samples": samples},
        "classifier": {"real_test_accuracy": round(judge.accuracy(data.test), 4),
                       "real_test_near_copy_rate": round(real_copies, 4)},
        "raster": {
            "tokenizer": "vision/pixels", "parameters": raster.num_parameters, "best_step": raster_fit.best_step,
            "test_bits_per_pixel": round(bpp, 4), "baseline_bits_per_pixel": round(baseline, 4),
            "guidance_scale": guidance_scale, **raster_q, **_timing(guided, samples),
            "unguided": {**sample_quality(plain.images, data, judge), **_timing(plain, samples)},
        },
        "next_scale": {
            "tokenizer": "vision/msvq", "scales": list(tokenizer.scales), "parameters": scales.num_parameters,
            "best_step": scales_fit.best_step, "guidance_scale": guidance_scale,
            **sample_quality(ns_guided.images, data, judge), **_timing(ns_guided, samples),
            "unguided": {**sample_quality(ns_plain.images, data, judge), **_timing(ns_plain, samples)},
            "wall_clock_speedup_vs_raster": round(guided.elapsed_s / ns_guided.elapsed_s, 2),
        },
        "tokenizers": {
            "msvq": {"codebook_size": tokenizer.codebook_size, "test_mse": round(tokenizer.reconstruction_error(data.test), 6),
                     "test_codebook_usage": round(tokenizer.codebook_usage(data.test), 4)},
            "vq_single_scale": {"codebook_size": single.codebook_size, "test_mse": round(single.reconstruction_error(data.test), 6),
                             "test_codebook_usage": round(single.codebook_usage(data.test), 4)},
        },
    }
    report["targets"] = {
        "accuracy_at_least_0.90": raster_q["accuracy"] >= 0.90,
        "fd_within_1.5x_floor": raster_q["fd_over_floor"] <= 1.5,
        "near_copies_below_5pct": raster_q["near_copy_rate"] < 0.05,
        "bits_per_pixel_below_baseline": bpp < baseline,
        "next_scale_at_most_4_calls": ns_guided.model_calls <= 4,
        "codebook_usage_at_least_0.90": report["tokenizers"]["msvq"]["test_codebook_usage"] >= 0.90,
    }
    return report
