"""``arkit shapes demo``: train a small PolyGen model in bounded steps, sample, print the table, write the files."""

from __future__ import annotations

from pathlib import Path
import time
from typing import Any

import arkit

from .datasets import load_primitives
from .evaluation import evaluate
from .training import load_pretrained, polygen_pipeline, train_polygen

__all__ = ["demo", "table"]


def demo(out_dir: str | Path = "shapes-demo", *, steps: int = 300, train: int = 1000, pretrained: bool = False,
         samples: int = 40, per_class: int = 5, guidance_scale: float = 2.0, seed: int = 0,
         progress: bool = True) -> dict[str, Any]:
    """Train (``steps`` on ``train`` primitives; ``pretrained``: the shipped ``polygen-mini`` instead), then
    :func:`~arkit_shapes.evaluation.evaluate` at a small size, writing meshes and PNG grids to ``out_dir``."""
    for name, value in (("steps", steps), ("train", train), ("samples", samples), ("per_class", per_class)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise arkit.ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    start = time.perf_counter()
    if pretrained:
        pipe, trained = load_pretrained("polygen-mini"), {"checkpoint": "polygen-mini"}
    else:
        pipe = polygen_pipeline(seed=seed)
        shapes = load_primitives(n_train=train, n_test=0, seed=seed).train
        result = train_polygen(pipe, shapes, steps=steps, batch_size=16, seed=seed, progress=progress)
        trained = {"steps": steps, "train_shapes": train, "loss_first": round(result.losses[0], 3),
                   "loss_last": round(result.losses[-1], 3)}
    report = evaluate(pipe, samples=samples, reference=min(samples, 20), per_class=per_class,
                      guidance_scale=guidance_scale, seed=seed, out_dir=out_dir, judge_train=200)
    report["training"] = trained
    report["elapsed_s"] = round(time.perf_counter() - start, 1)
    return report


def table(report: dict[str, Any]) -> str:
    """The report as a plain-text table: each measured number next to its floor or target."""
    d, v = report["distribution"], report["validity"]
    lines = [f"{'metric':<46}{'value':>10}{'floor/target':>14}", "-" * 70,
             f"{'valid meshes (watertight, consistent, non-degenerate)':<46}{v['valid']:>10}{'>= 0.9':>14}",
             f"{'decode without index errors (constrained)':<46}{v['no_index_errors']:>10}{'1.0':>14}",
             f"{'valid meshes, pointer rules only':<46}{v['pointer_rules_only_valid']:>10}{'':>14}",
             f"{'decode without index errors (no constraint)':<46}{v['unconstrained_no_index_errors']:>10}{'':>14}",
             f"{'valid meshes (no constraint)':<46}{v['unconstrained_valid']:>10}{'':>14}",
             f"{'COV (Chamfer)':<46}{d['generated']['cov']:>10}{d['floor']['cov']:>14}",
             f"{'MMD (Chamfer)':<46}{d['generated']['mmd']:>10}{d['floor']['mmd']:>14}",
             f"{'1-NNA (0.5 is ideal)':<46}{d['generated']['one_nna']:>10}{d['floor']['one_nna']:>14}",
             f"{'copy rate (test shapes: 0.05)':<46}{report['copy']['rate']:>10}{0.05:>14}",
             f"{'class accuracy, guided (real test shapes)':<46}{report['conditioned']['accuracy']:>10}"
             f"{report['conditioned']['real_test_accuracy']:>14}"]
    if "octree" in report:
        o = report["octree"]
        lines += [f"{'octree: model calls per shape (token by token)':<46}{o['calls_per_shape']:>10}"
                  f"{o['token_by_token_calls_per_shape']:>14}",
                  f"{'octree: voxels per token (dense grid: 1)':<46}{o['compression_tokens_vs_dense_grid']:>10}{'':>14}"]
    lines.append("-" * 70)
    lines += [f"{'met' if t['met'] else 'NOT met':<8} {t['name']}: {t['value']} (target {t['target']})"
              for t in report["targets"]]
    for key, value in report.get("files", {}).items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines)
