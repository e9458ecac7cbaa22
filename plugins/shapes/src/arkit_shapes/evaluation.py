"""``arkit shapes eval``: the shipped models against real primitives, each number next to its floor.

1. Validity: ``samples`` unconditioned meshes under :class:`PolygenConstraint` (with its
   closed-surface rule when ``closed``): the share that is watertight, winding-consistent and
   without degenerate faces (trimesh), and the share that decodes without index errors; for
   contrast the pointer rules alone and no constraint at all (50 samples each).
2. Distribution: COV, MMD (Chamfer on ``points`` surface points) and 1-NNA of ``reference``
   unconditioned samples against ``reference`` test shapes, next to the same numbers for
   ``reference`` training shapes against the same test shapes (the real-versus-real floor).
3. Copy rate: generated shapes closer to a training shape than 95 % of test shapes are.
4. Class conditioning: ``per_class`` guided samples per class, judged by a logistic
   regression on point features trained on real training shapes (its test accuracy shown).
5. Octree: guided samples from ``octree-mini``, one model call per level (calls per shape
   next to token-by-token decoding of the same octrees) and the compression of test shapes'
   octrees against the dense 16^3 grid.

``out_dir`` gets the samples as ``.obj``/``.glb`` and a PNG grid (generated next to real).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import time
from typing import Any

import numpy as np

import arkit

from .datasets import CLASSES, load_primitives
from .generate import sample_meshes, sample_octrees
from .metrics import chamfer_matrix, copy_rate, coverage_mmd, one_nna, point_features, surface_points, validity
from .shape import Shape

__all__ = ["class_judge", "distribution", "evaluate", "targets"]


def _cloud(mesh: Any, points: int, seed: int) -> np.ndarray:
    """Surface points; a mesh without area stands for the cube's centre (it covers nothing)."""
    cloud = surface_points(mesh, points, seed=seed)
    return cloud if cloud is not None else np.full((8, 3), 0.5)


def distribution(generated: Sequence[Any], reference: Sequence[Any], *, points: int = 256, seed: int = 0,
                 clouds: dict[str, list[np.ndarray]] | None = None) -> dict[str, float]:
    """COV, MMD and 1-NNA of ``generated`` meshes against ``reference`` meshes (Chamfer distances)."""
    g = [_cloud(m, points, seed + i) for i, m in enumerate(generated)]
    r = clouds["reference"] if clouds and "reference" in clouds else [_cloud(m, points, 10_000 + seed + i)
                                                                        for i, m in enumerate(reference)]
    d_gr = chamfer_matrix(g, r)
    d_rr = clouds and clouds.get("rr")
    d_rr = d_rr if d_rr is not None else chamfer_matrix(r)
    cov, mmd = coverage_mmd(d_gr)
    return {"cov": round(cov, 3), "mmd": round(mmd, 4), "one_nna": round(one_nna(chamfer_matrix(g), d_rr, d_gr), 3)}


def class_judge(train: Sequence[Shape], *, points: int = 256, seed: int = 0) -> Any:
    """A scikit-learn classifier of :data:`CLASSES` on :func:`point_features`, fitted on ``train``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.stack([point_features(_cloud(s.mesh, points, seed + i)) for i, s in enumerate(train)])
    y = np.array([s.label for s in train])
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)


def _judge(judge: Any, meshes: Sequence[Any], points: int, seed: int) -> np.ndarray:
    return judge.predict(np.stack([point_features(_cloud(m, points, seed + i)) for i, m in enumerate(meshes)]))


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets from a report, in the form the core benchmarks use."""
    v, d, floor = report["validity"], report["distribution"]["generated"], report["distribution"]["floor"]
    out = [
        {"name": "unconditioned samples: watertight, winding-consistent, non-degenerate share",
         "value": v["valid"], "target": 0.9, "met": v["valid"] >= 0.9},
        {"name": "unconditioned samples: share decoding without index errors under the constraint",
         "value": v["no_index_errors"], "target": 1.0, "met": v["no_index_errors"] == 1.0},
        {"name": f"COV within 0.1 of the real-vs-real floor ({floor['cov']})",
         "value": d["cov"], "target": round(floor["cov"] - 0.1, 3), "met": d["cov"] >= floor["cov"] - 0.1},
        {"name": f"MMD at most 1.5x the real-vs-real floor ({floor['mmd']})",
         "value": d["mmd"], "target": round(1.5 * floor["mmd"], 4), "met": d["mmd"] <= 1.5 * floor["mmd"]},
        {"name": "conditioned samples: class accuracy of a judge trained on real shapes",
         "value": report["conditioned"]["accuracy"], "target": 0.9, "met": report["conditioned"]["accuracy"] >= 0.9},
    ]
    if "octree" in report:
        o = report["octree"]
        out.append({"name": "octree coarse-to-fine: model calls per octree level (token-by-token ratio and dense-grid "
                            "compression in report.octree)",
                    "value": o["calls_per_level"], "target": 1.0, "met": o["calls_per_level"] <= 1.0})
    return out


def evaluate(pipe: arkit.Pipeline | None = None, octree_pipe: arkit.Pipeline | None = None, *, samples: int = 100,
             reference: int = 60, per_class: int = 20, guidance_scale: float = 2.0, top_p: float = 0.9,
             points: int = 256, seed: int = 0, out_dir: str | Path | None = None, closed: bool = True,
             judge_train: int = 500) -> dict[str, Any]:
    """The report of ``arkit shapes eval`` (defaults: the shipped ``polygen-mini`` and ``octree-mini``)."""
    from .training import load_pretrained

    for name, value, low in (("samples", samples, 2), ("reference", reference, 2), ("per_class", per_class, 1),
                             ("points", points, 8), ("judge_train", judge_train, 10)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise arkit.ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    if reference > samples:
        raise arkit.ConfigError(f"reference ({reference}) must not exceed samples ({samples}): COV/MMD compare "
                                "equal-sized sets")
    start = time.perf_counter()
    pipe = pipe if pipe is not None else load_pretrained("polygen-mini")
    data = load_primitives(n_train=max(judge_train, reference), n_test=reference, seed=0)
    report: dict[str, Any] = {"model": {"parameters": pipe.num_parameters, "tokenizer": dict(pipe.tokenizer.config)},
                              "settings": {"samples": samples, "reference": reference, "per_class": per_class,
                                           "guidance_scale": guidance_scale, "top_p": top_p, "points": points,
                                           "closed": closed, "seed": seed}}
    # 1. validity, with and without the constraint
    free = sample_meshes(pipe, [None] * samples, top_p=top_p, seed=seed, closed=closed)
    checks = [validity(m) for m in free.meshes]
    contrast = min(samples, 50)
    pointer = sample_meshes(pipe, [None] * contrast, top_p=top_p, seed=seed) if closed else free
    loose = sample_meshes(pipe, [None] * contrast, top_p=top_p, seed=seed, constrained=False)
    report["validity"] = {
        "valid": round(float(np.mean([c["valid"] for c in checks])), 3),
        "watertight": round(float(np.mean([c["watertight"] for c in checks])), 3),
        "winding_consistent": round(float(np.mean([c["winding_consistent"] for c in checks])), 3),
        "nondegenerate": round(float(np.mean([c["nondegenerate"] for c in checks])), 3),
        "no_index_errors": round(float(np.mean([m.metadata["index_errors"] == 0 for m in free.meshes])), 3),
        "pointer_rules_only_valid": round(float(np.mean([validity(m)["valid"] for m in pointer.meshes])), 3),
        "unconstrained_no_index_errors": round(float(np.mean([m.metadata["index_errors"] == 0
                                                              and not m.metadata["unfinished_face"]
                                                              for m in loose.meshes])), 3),
        "unconstrained_valid": round(float(np.mean([validity(m)["valid"] for m in loose.meshes])), 3),
        "seconds_per_sample": round(free.elapsed_s / samples, 4),
    }
    # 2. distribution against test shapes, next to the train-vs-test floor
    test = [s.mesh for s in data.test[:reference]]
    test_clouds = [_cloud(m, points, 10_000 + seed + i) for i, m in enumerate(test)]
    d_rr = chamfer_matrix(test_clouds)
    shared = {"reference": test_clouds, "rr": d_rr}
    generated = list(free.meshes[:reference])
    real = [s.mesh for s in data.train[:reference]]
    report["distribution"] = {
        "generated": distribution(generated, test, points=points, seed=seed, clouds=shared),
        "floor": distribution(real, test, points=points, seed=seed + 50_000, clouds=shared),
        "sample_size": reference,
    }
    # 3. copy rate against training shapes
    train_clouds = [_cloud(s.mesh, points, 20_000 + i) for i, s in enumerate(data.train[:judge_train // 2])]
    gen_clouds = [_cloud(m, points, seed + i) for i, m in enumerate(generated)]
    rate, threshold = copy_rate(chamfer_matrix(gen_clouds, train_clouds), chamfer_matrix(test_clouds, train_clouds))
    report["copy"] = {"rate": round(rate, 3), "test_rate": 0.05, "threshold": round(threshold, 4),
                      "train_reference": len(train_clouds)}
    # 4. class-conditioned samples judged by a classifier trained on real shapes
    judge = class_judge(data.train[:judge_train], points=points)
    labels = [c for c in range(len(CLASSES)) for _ in range(per_class)]
    cond = sample_meshes(pipe, labels, guidance_scale=guidance_scale, top_p=top_p, seed=seed + 1, closed=closed)
    predicted = _judge(judge, cond.meshes, points, seed)
    real_predicted = _judge(judge, test, points, 10_000 + seed)
    report["conditioned"] = {
        "accuracy": round(float(np.mean(predicted == np.array(labels))), 3),
        "real_test_accuracy": round(float(np.mean(real_predicted == np.array([s.label for s in data.test[:reference]]))), 3),
        "valid": round(float(np.mean([validity(m)["valid"] for m in cond.meshes])), 3),
        "per_class": {name: round(float(np.mean(predicted[np.array(labels) == c] == c)), 3)
                      for c, name in enumerate(CLASSES)},
    }
    # 5. octree: one call per level
    octree_samples = None
    if octree_pipe is None:
        try:
            octree_pipe = load_pretrained("octree-mini")
        except arkit.ConfigError:
            octree_pipe = None
    if octree_pipe is not None:
        tok = octree_pipe.tokenizer
        octree_labels = [c for c in range(len(CLASSES)) for _ in range(max(1, per_class // 2))]
        octree_samples = sample_octrees(octree_pipe, octree_labels, guidance_scale=guidance_scale, seed=seed + 2)
        surfaces = [v.to_mesh() for v in octree_samples.voxels]
        compression = [tok.compression(s) for s in data.test[:reference]]
        report["octree"] = {
            "resolution": tok.resolution,
            "levels": tok.depth,
            "calls_per_shape": round(octree_samples.calls_per_shape, 3),
            "calls_per_level": round(octree_samples.calls_per_shape / tok.depth, 3),
            "token_by_token_calls_per_shape": round(octree_samples.token_calls_per_shape, 1),
            "calls_ratio_token_by_token": round(octree_samples.token_calls_per_shape / octree_samples.calls_per_shape, 1),
            "compression_tokens_vs_dense_grid": round(float(np.mean([c["ratio_tokens"] for c in compression])), 2),
            "compression_bits_vs_dense_grid": round(float(np.mean([c["ratio_bits"] for c in compression])), 3),
            "tokens_per_test_shape": round(float(np.mean([c["tokens"] for c in compression])), 1),
            "surface_valid": round(float(np.mean([validity(m)["valid"] for m in surfaces])), 3),
            "class_accuracy": round(float(np.mean(_judge(judge, surfaces, points, seed) == np.array(octree_labels))), 3),
        }
    report["targets"] = targets(report)
    report["elapsed_s"] = round(time.perf_counter() - start, 1)
    if out_dir is not None:
        report["files"] = write_outputs(out_dir, cond.meshes, labels, data.test, free.meshes, octree_samples)
    return report


def write_outputs(out_dir: str | Path, conditioned: Sequence[Any], labels: Sequence[int], real: Sequence[Shape],
                  unconditioned: Sequence[Any], octree_samples: Any = None, *, columns: int = 6) -> dict[str, Any]:
    """Meshes as ``.obj``/``.glb`` and ``grid.png``: per class a row of generated shapes above a row of real ones."""
    from .render import export_meshes, render_grid

    out = Path(out_dir)
    rows: list[tuple[str, list[Any]]] = []
    for c, name in enumerate(CLASSES):
        rows.append((f"generated\n{name}", [m for m, lab in zip(conditioned, labels) if lab == c][:columns]))
        rows.append((f"real\n{name}", [s.mesh for s in real if s.label == c][:columns]))
    files = {"grid": str(render_grid(rows, out / "grid.png"))}
    if octree_samples is not None:
        octree_rows = []
        for c, name in enumerate(CLASSES):
            meshes = [v.to_mesh() for v in octree_samples.voxels if v.label == c][:columns]
            octree_rows.append((f"octree\n{name}", meshes))
        files["octree_grid"] = str(render_grid(octree_rows, out / "octree-grid.png"))
    files["conditioned"] = len(export_meshes(conditioned, out / "conditioned", prefix="sample"))
    files["unconditioned"] = len(export_meshes(unconditioned, out / "unconditioned", prefix="sample"))
    return files
