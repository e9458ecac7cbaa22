"""``arkit vision eval``: train the digit and shapes models briefly and measure them against real images.

Every number is printed next to its reference: sample accuracy next to real test accuracy,
the Frechet distance next to its train-vs-test floor, the near-copy rate next to real test
images' own rate, and (digits) held-out bits per pixel next to a per-class independent-pixel
model. :func:`evaluate` measures the digits, :func:`evaluate_shapes` the 32 x 32 shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
import time
from typing import Any

import torch

from .datasets import ImageSplit, load_digits, load_shapes
from .generate import Samples, image_bits, sample_next_scale, sample_raster
from .image import Image
from .metrics import DigitJudge, ImageJudge, frechet_distance, independent_pixel_bits, near_copy_rate, shapes_judge
from .msvq import MultiScaleVQTokenizer
from .recipes import SHAPES_MODEL, ModelSize, shapes_tokenizer, train_next_scale, train_raster, train_vq_raster
from .vq import VQTokenizer

__all__ = ["evaluate", "evaluate_shapes", "sample_quality"]


def sample_quality(samples: Sequence[Image], data: ImageSplit, judge: ImageJudge) -> dict[str, float]:
    """Class-conditional accuracy, Frechet distance (and its floor: as many real training images vs the
    test images), and the near-copy rate of labelled samples."""
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


def _tokenizer_report(tokenizer: VQTokenizer, data: ImageSplit, judge: ImageJudge, seconds: float) -> dict[str, Any]:
    """Reconstruction of the test images, and how the judge sees the reconstructions (the ceiling of any model
    over these codes)."""
    recon = [tokenizer.decode(tokenizer.encode(im)) for im in data.test]
    return {"codebook_size": tokenizer.codebook_size, "scales": list(tokenizer.scales),
            "tokens_per_image": tokenizer.num_content_tokens, "fit_seconds": round(seconds, 1),
            "test_mse": round(tokenizer.reconstruction_error(data.test), 6),
            "test_codebook_usage": round(tokenizer.codebook_usage(data.test), 4),
            "reconstruction_accuracy": round(judge.accuracy(recon), 4),
            "reconstruction_fd": round(frechet_distance(judge.features(recon), judge.features(data.test)), 4)}


def evaluate_shapes(*, samples: int = 200, guidance_scale: float = 1.5, temperature: float = 1.0,
                    size: ModelSize = SHAPES_MODEL, train: int = 2000, valid: int = 200, test: int = 400,
                    codebook_size: int = 64, tokenizer_steps: int = 400, warmup_steps: int = 800, seed: int = 0,
                    progress: bool = False) -> dict[str, Any]:
    """The 32 x 32 coloured shapes (4 classes): fit a ``vision/vq`` (8 x 8 map) and a ``vision/msvq`` (scales
    1, 2, 4, 8) tokenizer on the training shapes, train a raster model over the vq codes and a next-scale model
    over the msvq maps, sample ``samples`` shapes from each (classes in turn) with and without guidance, measure."""
    torch.set_num_threads(1)
    start = time.perf_counter()
    data = load_shapes(train=train, valid=valid, test=test, seed=seed)
    judge = shapes_judge(data.train, seed=seed)
    labels = [i % 4 for i in range(samples)]
    tokenizers: dict[str, Any] = {}
    fitted: dict[str, VQTokenizer] = {}
    for name, multi in (("vq", False), ("msvq", True)):
        t0 = time.perf_counter()
        fitted[name] = shapes_tokenizer(data, multi_scale=multi, codebook_size=codebook_size, warmup_steps=warmup_steps,
                                        steps=tokenizer_steps, seed=seed, progress=progress)
        tokenizers[name] = _tokenizer_report(fitted[name], data, judge, time.perf_counter() - t0)
    report: dict[str, Any] = {
        "data": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test), "samples": samples,
                 "image": [32, 32, 3], "classes": 4},
        "classifier": {"real_test_accuracy": round(judge.accuracy(data.test), 4),
                       "real_test_near_copy_rate": round(near_copy_rate(data.test, data.train, data.valid)[0], 4)},
        "tokenizers": tokenizers,
    }
    models = {
        "raster_vq": (lambda: train_vq_raster(data, fitted["vq"], size, progress=progress),
                      lambda pipe, g: sample_raster(pipe, labels, guidance_scale=g, temperature=temperature,
                                                    seed=seed + 1)),
        "next_scale": (lambda: train_next_scale(data, size, tokenizer=fitted["msvq"], progress=progress),
                       lambda pipe, g: sample_next_scale(pipe, labels, pipe.tokenizer.schedule, guidance_scale=g,
                                                         temperature=temperature, seed=seed + 1)),
    }
    elapsed: dict[str, float] = {}
    for name, (fit, sample) in models.items():
        t0 = time.perf_counter()
        pipe, stopped = fit()
        train_s = time.perf_counter() - t0
        guided, plain = sample(pipe, guidance_scale), sample(pipe, 1.0)
        elapsed[name] = guided.elapsed_s
        row: dict[str, Any] = {
            "tokenizer": "vision/vq" if name == "raster_vq" else "vision/msvq", "parameters": pipe.num_parameters,
            "best_step": stopped.best_step, "best_valid_loss": round(stopped.best_eval_loss, 4),
            "train_seconds": round(train_s, 1)}
        if name == "raster_vq":  # held-out NLL of the raster factorisation (next-scale rows are not raster rows)
            row["test_bits_per_token"] = round(image_bits(pipe, data.test), 4)
            row["uniform_bits_per_token"] = round(math.log2(pipe.tokenizer.codebook_size), 4)
        report[name] = {**row, "guidance_scale": guidance_scale, **sample_quality(guided.images, data, judge),
                        **_timing(guided, samples),
                        "unguided": {**sample_quality(plain.images, data, judge), **_timing(plain, samples)}}
    report["next_scale"]["wall_clock_speedup_vs_raster"] = round(elapsed["raster_vq"] / elapsed["next_scale"], 2)
    raster_q = report["raster_vq"]
    report["targets"] = {
        "codebook_usage_at_least_0.90": all(t["test_codebook_usage"] >= 0.90 for t in tokenizers.values()),
        "raster_accuracy_at_least_0.90": raster_q["accuracy"] >= 0.90,
        "raster_fd_within_1.5x_floor": raster_q["fd_over_floor"] <= 1.5,
        "raster_near_copies_below_5pct": raster_q["near_copy_rate"] < 0.05,
        "next_scale_at_most_4_calls": report["next_scale"]["model_calls_per_image"] <= 4,
    }
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report
