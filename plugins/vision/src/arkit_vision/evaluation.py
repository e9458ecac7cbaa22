"""``arkit vision eval``: the shipped image models against real images, over seeds, with pass/fail targets.

By default every model is the shipped checkpoint (:mod:`arkit_vision.pretrained`); ``from_scratch=True``
trains each one anew per seed (:func:`~arkit_vision.recipes.train_shipped`, about an hour per seed on one
CPU thread; the 2,000-shape recipes, without the shipped shapes models' fine-tune on 18,000 more shapes).
Each figure is the mean over ``seeds`` (sampling seeds; with ``from_scratch`` also training seeds) with its
standard deviation, so a rerun agrees with the docs within the spread.

Every number is printed next to its reference:

- class-conditional accuracy of the samples, by two judges trained on the real training images
  (today's MLP, :class:`~arkit_vision.metrics.ImageJudge`, and the shipped CNN,
  :class:`~arkit_vision.features.CNNJudge`), next to their accuracy on real test images;
- the Frechet distance in both judges' feature spaces, each over its own floor (as many real
  training images as samples, against the test images);
- the near-copy rate next to real test images' own;
- held-out bits per token (raster models) next to a per-class independent-pixel model (digits) or
  a uniform code (shapes).

``lantern``: speculative decoding of the shipped shapes raster model with the shipped draft model,
exact against LANTERN's relaxed acceptance, each speedup next to its accuracy cost.

``targets``: one ``{"name", "value", "target", "met"}`` entry per target of issue 27 and per earlier
target of each model listed, so every model has a pass/fail line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import functools
import os
from pathlib import Path
import time
from typing import Any

import attrs
import numpy as np
import torch

import arkit

from .datasets import ImageSplit
from .generate import Samples, image_bits, sample_next_scale, sample_raster
from .image import Image
from .metrics import DigitJudge, frechet_distance, independent_pixel_bits, near_copy_rate, shapes_judge

__all__ = ["DECODING", "Decoding", "evaluate", "frechet_floor", "sample_quality"]

Judge = Any  # ImageJudge or CNNJudge: accuracy(images), features(images)


@attrs.frozen(kw_only=True)
class Decoding:
    """How a model's samples are drawn for the eval."""

    guidance_scale: float = 1.0
    temperature: float = 1.0
    top_k: int | None = None
    """Keep the ``top_k`` most likely ids (``None``: all)."""
    top_p: float = 1.0
    """Keep the smallest set of most likely ids whose probability reaches ``top_p`` (1: all)."""

    def describe(self) -> str:
        """``"guidance 1.5, temperature 0.8, top-p 0.9"``: the settings that differ from plain sampling."""
        parts = [f"guidance {self.guidance_scale:g}"]
        if self.temperature != 1.0:
            parts.append(f"temperature {self.temperature:g}")
        if self.top_k is not None:
            parts.append(f"top-k {self.top_k}")
        if self.top_p != 1.0:
            parts.append(f"top-p {self.top_p:g}")
        return ", ".join(parts)


DECODING: dict[str, Decoding] = {
    "digits_raster": Decoding(guidance_scale=1.0),
    "digits_next_scale": Decoding(guidance_scale=1.0),
    "shapes_raster": Decoding(guidance_scale=1.5, top_p=0.95),
    "shapes_next_scale": Decoding(guidance_scale=2.0, temperature=0.8, top_p=0.9),
}
"""The documented decoding of each model (guidance scale, temperature, top-p), chosen on the validation images with
``plugins/vision/scripts/tune_decoding.py`` (lowest Frechet distance in the MLP features at accuracy >= 0.9 where
one reaches it, else the highest accuracy; sampling seeds disjoint from the eval's)."""

_MODELS = {  # report key -> (dataset, shipped checkpoint, raster or next-scale)
    "digits_raster": ("digits", "digits-raster", "raster"),
    "digits_next_scale": ("digits", "digits-next-scale", "next_scale"),
    "shapes_raster": ("shapes", "shapes-raster", "raster"),
    "shapes_next_scale": ("shapes", "shapes-next-scale", "next_scale"),
}


def frechet_floor(judge: Judge, data: ImageSplit, n: int) -> float:
    """The Frechet distance of ``n`` real training images to the test images in ``judge``'s features."""
    return frechet_distance(judge.features(data.train[:min(n, len(data.train))]), judge.features(data.test))


def sample_quality(samples: Sequence[Image], data: ImageSplit, judges: dict[str, Judge],
                   floors: dict[str, float]) -> dict[str, float]:
    """Accuracy and Frechet distance over its floor in each judge's features (``judges``: name -> judge), and
    the near-copy rate of labelled samples."""
    row: dict[str, float] = {}
    test_features = {name: judge.features(data.test) for name, judge in judges.items()}
    for name, judge in judges.items():
        fd = frechet_distance(judge.features(samples), test_features[name])
        row[f"{name}_accuracy"] = judge.accuracy(samples)
        row[f"{name}_frechet_distance"] = fd
        row[f"{name}_fd_over_floor"] = fd / floors[name]
    row["near_copy_rate"] = near_copy_rate(samples, data.train, data.test)[0]
    return row


def _stats(values: Sequence[float], digits: int = 4) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value) and the per-seed values."""
    arr = np.asarray(values, dtype=np.float64)
    std = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": round(float(arr.mean()), digits), "std": round(std, digits),
            "per_seed": [round(float(v), digits) for v in arr]}


def _aggregate(rows: Sequence[dict[str, float]]) -> dict[str, Any]:
    return {key: _stats([row[key] for row in rows]) for key in rows[0]}


def _data(dataset: str) -> ImageSplit:
    from .pretrained import split

    return split(dataset)


def _judge_images(dataset: str, data: ImageSplit) -> list[Image]:
    """What the judges learn from: every training digit, the first 2,000 training shapes."""
    from .pretrained import JUDGE_TRAIN

    return list(data.train if dataset == "digits" else data.train[:JUDGE_TRAIN])


@functools.lru_cache(maxsize=2)
def _mlp_judge(dataset: str) -> Judge:
    """Today's MLP judge of ``dataset`` (seeded, so one per process is enough)."""
    images = _judge_images(dataset, _data(dataset))
    return DigitJudge(images, seed=0) if dataset == "digits" else shapes_judge(images, seed=0)


def _judges(dataset: str, data: ImageSplit, from_scratch: bool) -> dict[str, Judge]:
    """Today's MLP judge and the CNN judge (shipped, or trained here with ``from_scratch``)."""
    from .features import train_cnn_judge
    from .pretrained import load_judge

    images = _judge_images(dataset, data)
    mlp = _mlp_judge(dataset)
    if from_scratch:
        shape = dict(image_size=8, channels=1, max_value=16, num_classes=10) if dataset == "digits" else \
            dict(image_size=32, channels=3, max_value=255, num_classes=4)
        cnn = train_cnn_judge(images, seed=0, **shape)
    else:
        cnn = load_judge(dataset)
    return {"mlp": mlp, "cnn": cnn}


def _sample(pipe: arkit.Pipeline, kind: str, labels: list[int], decoding: Decoding, seed: int) -> Samples:
    settings = attrs.asdict(decoding)
    if kind == "raster":
        return sample_raster(pipe, labels, seed=seed, **settings)
    return sample_next_scale(pipe, labels, pipe.tokenizer.schedule, seed=seed, **settings)


def _grid(samples: Samples, classes: int, per_class: int, path: Path, title: str, max_value: int) -> str:
    """Write the first ``per_class`` samples of each class (labels in turn) as one PNG row per class."""
    from .datasets import SHAPES
    from .grid import save_grid

    rows = [[im for im in samples.images if im.label == c][:per_class] for c in range(classes)]
    labels = [str(c) for c in range(classes)] if classes == 10 else list(SHAPES)
    return str(save_grid(rows, path, max_value=max_value, row_labels=labels, title=title))


def _model_facts(name: str, pipe: arkit.Pipeline, data: ImageSplit) -> dict[str, float]:
    """Per-model numbers that do not depend on the sampling seed."""
    tokenizer = pipe.tokenizer
    facts: dict[str, float] = {}
    if _MODELS[name][2] == "raster":
        facts["test_bits_per_token"] = image_bits(pipe, data.test)
    if hasattr(tokenizer, "codebook_usage"):
        facts["tokenizer_test_codebook_usage"] = tokenizer.codebook_usage(list(data.test))
        facts["tokenizer_test_mse"] = tokenizer.reconstruction_error(list(data.test))
    return facts


def _dataset_section(dataset: str, names: Sequence[str], seeds: Sequence[int], samples: int, from_scratch: bool,
                     decoding: dict[str, Decoding], progress: bool, grids: Path | None) -> dict[str, Any]:
    from .pretrained import load_model
    from .recipes import train_shipped

    data = _data(dataset)
    judges = _judges(dataset, data, from_scratch)
    classes = 10 if dataset == "digits" else 4
    labels = [i % classes for i in range(samples)]
    floors = {name: frechet_floor(judge, data, samples) for name, judge in judges.items()}
    section: dict[str, Any] = {
        "data": {"train": len(data.train), "valid": len(data.valid), "test": len(data.test),
                 "samples_per_seed": samples, "seeds": list(seeds)},
        "real": {"mlp_test_accuracy": round(judges["mlp"].accuracy(data.test), 4),
                 "cnn_test_accuracy": round(judges["cnn"].accuracy(data.test), 4),
                 "mlp_frechet_floor": round(floors["mlp"], 4), "cnn_frechet_floor": round(floors["cnn"], 4),
                 "test_near_copy_rate": round(near_copy_rate(data.test, data.train, data.valid)[0], 4)},
    }
    if dataset == "digits":
        section["real"]["independent_pixel_bits"] = round(independent_pixel_bits(data.train, data.test), 4)
    for name in names:
        _, checkpoint, kind = _MODELS[name]
        shipped = None if from_scratch else load_model(checkpoint)
        rows, facts, calls, seconds = [], [], [], []
        for seed in seeds:
            pipe = shipped if shipped is not None else train_shipped(checkpoint, data, seed=seed, progress=progress)
            if shipped is None or not facts:
                facts.append(_model_facts(name, pipe, data))
            out = _sample(pipe, kind, labels, decoding[name], seed=1000 + seed)
            calls.append(out.model_calls)
            seconds.append(1000 * out.elapsed_s / samples)
            rows.append(sample_quality(out.images, data, judges, floors))
            if grids is not None and seed == seeds[0]:
                _grid(out, classes, 8, grids / f"eval_{name}.png", f"{name}, {decoding[name].describe()}, seed {seed}",
                      16 if dataset == "digits" else 255)
        section[name] = {
            "checkpoint": "trained from scratch per seed" if from_scratch else f"shipped {checkpoint}",
            "kind": kind, "tokenizer": type(pipe.tokenizer).__name__, "parameters": pipe.num_parameters,
            "decoding": attrs.asdict(decoding[name]),
            "model_calls_per_image": round(float(np.mean(calls)), 2),
            "ms_per_image": round(float(np.mean(seconds)), 3),
            **_aggregate(facts), **_aggregate(rows)}
    return section


_LANTERN_BATCH = 50
"""Rows decoded together by the speculative methods; target calls are counted per row (``SpeculativeStats.row_calls``),
so the call counts are those of one image at a time, only the wall clock differs. Every target call verifies
``num_draft_tokens`` drafts (``draft_schedule="constant"``): the engine's adaptive schedule sizes drafts for the
batch's compute, which would make the per-image counts depend on the batch size."""


def _lantern_section(seeds: Sequence[int], images: int, delta: float, neighbours: int, num_draft_tokens: int,
                     guidance_scale: float, from_scratch: bool, progress: bool) -> dict[str, Any]:
    """Exact and LANTERN speculative decoding of the shapes raster model: target calls per image and accuracy."""
    from .pretrained import load_model
    from .recipes import train_shipped

    data = _data("shapes")
    judge = _mlp_judge("shapes")
    labels = [i % 4 for i in range(images)]
    variants: dict[str, tuple[float, str, dict[str, Any]]] = {  # draft temperature, acceptance, its config
        "exact": (1.0, "core/exact", {}),
        "exact_greedy_draft": (0.0, "core/exact", {}),
        "lantern": (0.0, "core/lantern", {"delta": delta}),
        "lantern_ratio_test": (1.0, "core/lantern", {"delta": delta, "ratio_test": True}),
    }
    per_seed: dict[str, list[Samples]] = {name: [] for name in ("plain", *variants)}
    target = draft = None
    if not from_scratch:
        target, draft = load_model("shapes-raster"), load_model("shapes-draft")
    for seed in seeds:
        if from_scratch:
            target = train_shipped("shapes-raster", data, seed=seed, progress=progress)
            draft = train_shipped("shapes-draft", data, seed=seed, target=target, progress=progress)
        assert target is not None and draft is not None
        near = target.tokenizer.neighbours(neighbours)
        per_seed["plain"].append(sample_raster(target, labels, guidance_scale=guidance_scale, seed=2000 + seed))
        for name, (temperature, rule, config) in variants.items():
            extra = {"neighbours": near, **config} if rule == "core/lantern" else {}
            pipe = target.replace(
                drafter=arkit.create("drafter", "core/draft-model", pipeline=draft, temperature=temperature,
                                     seed=seed),
                acceptance=arkit.create("acceptance", rule, **extra))
            per_seed[name].append(sample_raster(pipe, labels, guidance_scale=guidance_scale, seed=2000 + seed,
                                                batch_size=_LANTERN_BATCH, num_draft_tokens=num_draft_tokens,
                                                draft_schedule="constant"))
    methods: dict[str, Any] = {}
    accuracy = {name: [judge.accuracy(s.images) for s in runs] for name, runs in per_seed.items()}
    calls = {name: [s.model_calls for s in runs] for name, runs in per_seed.items()}
    best_exact = min(("exact", "exact_greedy_draft"), key=lambda n: float(np.mean(calls[n])))
    for name, runs in per_seed.items():
        row: dict[str, Any] = {"target_calls_per_image": _stats(calls[name], 2), "accuracy": _stats(accuracy[name]),
                               "accuracy_drop_vs_plain": _stats([a - b for a, b in zip(accuracy["plain"],
                                                                                        accuracy[name])])}
        if name != "plain":
            drafted = sum(s.speculative["drafted"] for s in runs if s.speculative)
            accepted = sum(s.speculative["accepted"] for s in runs if s.speculative)
            row["acceptance_rate"] = round(accepted / max(1, drafted), 4)
            row["call_reduction_vs_best_exact"] = _stats([c / m for c, m in zip(calls[best_exact], calls[name])], 3)
        row["tv_bound_per_position"] = (0.0 if name in ("plain", "exact", "exact_greedy_draft") else
                                        None if name == "lantern_ratio_test" else delta)
        methods[name] = row
    return {"target": "shipped shapes-raster" if not from_scratch else "shapes-raster trained per seed",
            "draft": "shipped shapes-draft" if not from_scratch else "shapes-draft trained per seed",
            "images_per_seed": images, "seeds": list(seeds), "batch_size": min(images, _LANTERN_BATCH),
            "num_draft_tokens": num_draft_tokens,
            "guidance_scale": guidance_scale, "delta": delta, "neighbours": neighbours,
            "real_test_accuracy": round(judge.accuracy(data.test), 4), "best_exact": best_exact,
            "default": "lantern", "methods": methods}


def _target(name: str, value: float, target: float, at_most: bool) -> dict[str, Any]:
    value = round(float(value), 4)  # 'met' is what the printed value says
    return {"name": name, "value": value, "target": target, "met": bool(value <= target if at_most else value >= target)}


def _targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every model listed gets pass/fail lines; the issue's targets are on 3-seed means."""
    out: list[dict[str, Any]] = []
    mean: Callable[[dict[str, Any], str], float] = lambda row, key: float(row[key]["mean"])  # noqa: E731
    digits, shapes, lantern = report.get("digits"), report.get("shapes"), report.get("lantern")
    if digits is not None:
        for name, limit in (("digits_raster", 1.5), ("digits_next_scale", 2.0)):
            if name in digits:
                row = digits[name]
                out.append(_target(f"{name}: Frechet distance over its floor, MLP features, seed mean, at most",
                                   mean(row, "mlp_fd_over_floor"), limit, True))
                out.append(_target(f"{name}: accuracy (MLP judge), seed mean, at least", mean(row, "mlp_accuracy"),
                                   0.90, False))
                out.append(_target(f"{name}: near-copy rate, seed mean, below", mean(row, "near_copy_rate"), 0.05,
                                   True))
        if "digits_raster" in digits:
            out.append(_target("digits_raster: test bits per pixel, at most the independent-pixel baseline",
                               mean(digits["digits_raster"], "test_bits_per_token"),
                               digits["real"]["independent_pixel_bits"], True))
        if "digits_next_scale" in digits:
            out.append(_target("digits_next_scale: model calls per image, at most", 
                               digits["digits_next_scale"]["model_calls_per_image"], 4, True))
    if shapes is not None:
        for name, limit in (("shapes_raster", 0.90), ("shapes_next_scale", 0.80)):
            if name in shapes:
                row = shapes[name]
                out.append(_target(f"{name}: accuracy (MLP judge), seed mean, at least", mean(row, "mlp_accuracy"),
                                   limit, False))
                out.append(_target(f"{name}: near-copy rate, seed mean, below", mean(row, "near_copy_rate"), 0.05,
                                   True))
                out.append(_target(f"{name}: tokenizer codebook usage on test, at least",
                                   mean(row, "tokenizer_test_codebook_usage"), 0.90, False))
    if lantern is not None:
        row = lantern["methods"][lantern["default"]]
        out.append(_target("lantern (TV bound, the default): target-call reduction vs the best exact, seed mean, "
                           "at least", row["call_reduction_vs_best_exact"]["mean"], 1.3, False))
        out.append(_target("lantern (TV bound, the default): accuracy drop vs plain decoding, seed mean, at most",
                           row["accuracy_drop_vs_plain"]["mean"], 0.05, True))
    return out


SECTIONS = ("digits", "shapes", "lantern")
"""The parts of the eval (``sections``)."""


def evaluate(*, sections: Sequence[str] = SECTIONS, seeds: Sequence[int] = (0, 1, 2), samples: int = 500,
             shapes_samples: int = 200, lantern_images: int = 300, lantern_delta: float = 0.3,
             lantern_neighbours: int = 8, lantern_draft_tokens: int = 8, lantern_guidance: float = 1.5,
             decoding: dict[str, Decoding] | None = None, models: Sequence[str] | None = None,
             from_scratch: bool = False, grids: str | os.PathLike[str] | None = None,
             progress: bool = False) -> dict[str, Any]:
    """Measure the shipped models (``from_scratch``: models trained per seed) on ``sections``; see the module
    docstring. ``models`` restricts the digits and shapes sections to some of ``digits_raster``,
    ``digits_next_scale``, ``shapes_raster``, ``shapes_next_scale``. ``grids``: a folder for a PNG grid of
    each model's first-seed samples (8 per class), ``eval_<model>.png``. The LANTERN defaults (``delta`` 0.3,
    8 neighbours, 8 draft tokens) were chosen with ``plugins/vision/scripts/tune_lantern.py`` on other sampling
    seeds: of the settings tried, the least accuracy drop among those with >= 1.3x fewer target calls."""
    unknown = [s for s in sections if s not in SECTIONS]
    if not sections or unknown:
        raise arkit.ConfigError(f"vision eval sections must be some of {', '.join(SECTIONS)}; got {list(sections)}")
    chosen = list(models) if models is not None else list(_MODELS)
    if not chosen or any(m not in _MODELS for m in chosen):
        raise arkit.ConfigError(f"vision eval models must be some of {', '.join(_MODELS)}; got {chosen}")
    seeds = list(seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise arkit.ConfigError(f"vision eval needs at least one seed and no repeats; got {seeds}")
    for name, value in (("samples", samples), ("shapes_samples", shapes_samples), ("lantern_images", lantern_images),
                        ("lantern_neighbours", lantern_neighbours), ("lantern_draft_tokens", lantern_draft_tokens)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 2:
            raise arkit.ConfigError(f"vision eval {name} must be an integer >= 2, got {value!r}")
    settings = {**DECODING, **(decoding or {})}
    grid_dir = None if grids is None else Path(grids)
    if grid_dir is not None:
        grid_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    start = time.perf_counter()
    report: dict[str, Any] = {"from_scratch": from_scratch, "seeds": seeds, "options": {
        "sections": list(sections), "models": chosen, "samples": samples, "shapes_samples": shapes_samples,
        "lantern_images": lantern_images, "lantern_delta": lantern_delta, "lantern_neighbours": lantern_neighbours,
        "lantern_draft_tokens": lantern_draft_tokens, "decoding": {k: attrs.asdict(v) for k, v in settings.items()}}}
    for dataset in ("digits", "shapes"):
        names = [m for m in chosen if _MODELS[m][0] == dataset]
        if dataset in sections and names:
            report[dataset] = _dataset_section(dataset, names, seeds, samples if dataset == "digits" else shapes_samples,
                                               from_scratch, settings, progress, grid_dir)
    if "lantern" in sections:
        report["lantern"] = _lantern_section(seeds, lantern_images, lantern_delta, lantern_neighbours,
                                             lantern_draft_tokens, lantern_guidance, from_scratch, progress)
    report["targets"] = _targets(report)
    report["seconds"] = round(time.perf_counter() - start, 1)
    return report
