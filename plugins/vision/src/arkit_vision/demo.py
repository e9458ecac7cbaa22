"""``arkit vision demo``: train small digit and shapes models, write a PNG grid per decoding method, print a table."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
from typing import Any

import attrs
import torch

import arkit

from .datasets import SHAPES, load_digits, load_shapes
from .generate import Samples, sample_next_scale, sample_raster
from .grid import save_grid
from .metrics import DigitJudge, ImageJudge, shapes_judge
from .recipes import SHAPES_MODEL, ModelSize, shapes_tokenizer, train_draft, train_next_scale, train_raster, train_vq_raster

__all__ = ["demo"]


#: Most steps a demo spends fitting a VQ tokenizer, and warming its autoencoder up (shapes), whatever ``steps``.
TOKENIZER_STEPS, WARMUP_STEPS = 400, 800


def demo(out_dir: str | os.PathLike[str] = "vision-demo", *, steps: int = 600, per_class: int = 8,
         guidance_scale: float = 1.25, delta: float = 0.2, seed: int = 0, progress: bool = True,
         datasets: Sequence[str] = ("digits", "shapes")) -> list[dict[str, Any]]:
    """Train (``steps`` per model), generate ``per_class`` images per class with each method, write
    ``<method>.png`` grids under ``out_dir`` (shapes: ``shapes_<method>.png``); returns one row per method.

    ``steps`` bounds every training loop of the demo: each model trains ``steps`` steps, and each VQ
    tokenizer fits for ``min(steps, 400)`` steps (the shapes autoencoders warm up for ``min(steps, 800)``).
    """
    torch.set_num_threads(1)
    table: list[dict[str, Any]] = []
    if "digits" in datasets:
        table += _digits(Path(out_dir), steps, per_class, guidance_scale, delta, seed, progress)
    if "shapes" in datasets:
        table += _shapes(Path(out_dir), steps, per_class, guidance_scale, seed, progress)
    return table


def _write(runs: dict[str, tuple[str, Samples]], out_dir: Path, judge: ImageJudge, row_labels: Sequence[str],
           per_class: int, max_value: int) -> list[dict[str, Any]]:
    table = []
    for name, (title, samples) in runs.items():
        grid = [list(samples.images[c * per_class:(c + 1) * per_class]) for c in range(len(row_labels))]
        path = save_grid(grid, out_dir / f"{name}.png", max_value=max_value, row_labels=row_labels, title=title)
        table.append({"method": name, "model_calls_per_image": round(samples.model_calls, 2),
                      "ms_per_image": round(1000 * samples.elapsed_s / len(samples.images), 2),
                      "accuracy": round(judge.accuracy(samples.images), 3), "grid": str(path)})
    return table


def _digits(out_dir: Path, steps: int, per_class: int, guidance_scale: float, delta: float, seed: int,
            progress: bool) -> list[dict[str, Any]]:
    data = load_digits(seed=seed)
    judge = DigitJudge(data.train, seed=seed)
    size = ModelSize(steps=steps, seed=seed)
    raster, _ = train_raster(data, size, progress=progress)
    scales, _ = train_next_scale(data, size, tokenizer_steps=min(steps, TOKENIZER_STEPS), progress=progress)
    draft = train_draft(data, steps=steps, progress=progress)
    labels = [c for c in range(10) for _ in range(per_class)]
    schedule = scales.tokenizer.schedule
    # greedy drafts: LANTERN's rule then keeps every position within total variation delta of the target
    lantern = raster.replace(drafter=arkit.create("drafter", "core/draft-model", pipeline=draft, temperature=0.0, seed=seed),
                             acceptance=arkit.create("acceptance", "core/lantern",
                                                     neighbours=raster.tokenizer.neighbours(2), delta=delta))
    runs: dict[str, tuple[str, Samples]] = {
        "raster": ("raster, no guidance", sample_raster(raster, labels, seed=seed)),
        "raster_guided": (f"raster, guidance {guidance_scale}",
                          sample_raster(raster, labels, guidance_scale=guidance_scale, seed=seed)),
        "next_scale": ("next-scale (msvq), no guidance", sample_next_scale(scales, labels, schedule, seed=seed)),
        "next_scale_guided": (f"next-scale (msvq), guidance {guidance_scale}",
                              sample_next_scale(scales, labels, schedule, guidance_scale=guidance_scale, seed=seed)),
        "raster_lantern": (f"raster, LANTERN speculative, greedy drafts (delta {delta})",
                           sample_raster(lantern, labels, seed=seed, batch_size=1)),
    }
    return _write(runs, out_dir, judge, [str(c) for c in range(10)], per_class, 16)


def _shapes(out_dir: Path, steps: int, per_class: int, guidance_scale: float, seed: int,
            progress: bool) -> list[dict[str, Any]]:
    data = load_shapes(seed=seed)
    judge = shapes_judge(data.train, seed=seed)
    size = attrs.evolve(SHAPES_MODEL, steps=steps, seed=seed)
    fitting = {"steps": min(steps, TOKENIZER_STEPS), "warmup_steps": min(steps, WARMUP_STEPS)}
    raster, _ = train_vq_raster(data, shapes_tokenizer(data, seed=seed, progress=progress, **fitting), size,
                                progress=progress)
    scales, _ = train_next_scale(data, size, tokenizer=shapes_tokenizer(data, multi_scale=True, seed=seed,
                                                                        progress=progress, **fitting),
                                 progress=progress)
    labels = [c for c in range(len(SHAPES)) for _ in range(per_class)]
    schedule = scales.tokenizer.schedule
    runs: dict[str, tuple[str, Samples]] = {
        "shapes_raster": ("shapes, raster (vq), no guidance", sample_raster(raster, labels, seed=seed)),
        "shapes_raster_guided": (f"shapes, raster (vq), guidance {guidance_scale}",
                                 sample_raster(raster, labels, guidance_scale=guidance_scale, seed=seed)),
        "shapes_next_scale": ("shapes, next-scale (msvq), no guidance",
                              sample_next_scale(scales, labels, schedule, seed=seed)),
        "shapes_next_scale_guided": (f"shapes, next-scale (msvq), guidance {guidance_scale}",
                                     sample_next_scale(scales, labels, schedule, guidance_scale=guidance_scale,
                                                       seed=seed)),
    }
    return _write(runs, out_dir, judge, list(SHAPES), per_class, 255)
