"""``arkit vision demo``: train small digit models, write a PNG grid per decoding method, print a table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from arkit.acceptance.lantern import LanternAcceptance
from arkit.drafters.draft_model import DraftModel

from .datasets import load_digits
from .generate import Samples, sample_next_scale, sample_raster
from .grid import save_grid
from .metrics import DigitJudge
from .recipes import ModelSize, train_draft, train_next_scale, train_raster

__all__ = ["demo"]


def demo(out_dir: str | os.PathLike[str] = "vision-demo", *, steps: int = 600, per_class: int = 8,
         guidance_scale: float = 1.25, delta: float = 0.2, seed: int = 0, progress: bool = True) -> list[dict[str, Any]]:
    """Train (``steps`` per model), generate ``per_class`` digits per class with each method, write
    ``<method>.png`` grids under ``out_dir``; returns one row per method."""
    torch.set_num_threads(1)
    data = load_digits(seed=seed)
    judge = DigitJudge(data.train, seed=seed)
    size = ModelSize(steps=steps, seed=seed)
    raster, _ = train_raster(data, size, progress=progress)
    scales, _ = train_next_scale(data, size, progress=progress)
    draft = train_draft(data, steps=steps, progress=progress)
    labels = [c for c in range(10) for _ in range(per_class)]
    schedule = scales.tokenizer.schedule
    lantern = raster.replace(drafter=DraftModel(draft, temperature=1.0, seed=seed),
                             acceptance=LanternAcceptance(neighbours=raster.tokenizer.neighbours(2), delta=delta))
    runs: dict[str, tuple[str, Samples]] = {
        "raster": ("raster, no guidance", sample_raster(raster, labels, seed=seed)),
        "raster_guided": (f"raster, guidance {guidance_scale}",
                          sample_raster(raster, labels, guidance_scale=guidance_scale, seed=seed)),
        "next_scale": ("next-scale (msvq), no guidance", sample_next_scale(scales, labels, schedule, seed=seed)),
        "next_scale_guided": (f"next-scale (msvq), guidance {guidance_scale}",
                              sample_next_scale(scales, labels, schedule, guidance_scale=guidance_scale, seed=seed)),
        "raster_lantern": (f"raster, LANTERN speculative (delta {delta})",
                           sample_raster(lantern, labels, seed=seed, batch_size=1)),
    }
    table = []
    for name, (title, samples) in runs.items():
        grid = [list(samples.images[c * per_class:(c + 1) * per_class]) for c in range(10)]
        path = save_grid(grid, Path(out_dir) / f"{name}.png", row_labels=[str(c) for c in range(10)], title=title)
        table.append({"method": name, "model_calls_per_image": round(samples.model_calls, 2),
                      "ms_per_image": round(1000 * samples.elapsed_s / len(labels), 2),
                      "accuracy": round(judge.accuracy(samples.images), 3), "grid": str(path)})
    return table
