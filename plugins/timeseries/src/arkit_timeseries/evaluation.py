"""The Chronos-style evaluation on the bundled series: a model side by side with classical baselines.

For every split (:mod:`arkit_timeseries.splits`) each forecaster sees the
history and forecasts the held-out tail; MASE and WQL are divided by seasonal
naive's (:mod:`arkit_timeseries.metrics`) and aggregated by the geometric mean
over series. A series with several seasonal periods (taylor: 48 and 336) also
gets relative scores against seasonal naive for each extra period, under
``"relative_to"`` (the aggregate uses the first, ``season_length``). Every
forecast of a ``nonnegative`` series (counts, amounts) is floored at 0, the
model's and the baselines' alike.

The geometric means are also taken per group (:data:`~arkit_timeseries.splits.GROUPS`):
``"in-domain"`` series, whose histories a shipped checkpoint trained on, and the
``"zero-shot"`` ones it never saw (Chronos' Benchmarks I and II).
:func:`targets` turns a result into the issue's pass/fail list.

:func:`evaluate` returns a JSON-ready dict::

    {"config": {...},
     "aggregate": {"<model>": {"relative_mase": g, "relative_wql": g, "series": n}, ...},
     "groups": {"in-domain": {"<model>": {...}, ...}, "zero-shot": {...}},
     "series": {"<name>": {"group": g, "horizon": h, "season_length": m, "length": n,
                           "naive": {"48": {"mase": .., "wql": ..}, "336": {...}},
                           "<model>": {"mase", "wql", "relative_mase", "relative_wql",
                                       "relative_to": {"336": {"mase": .., "wql": ..}}}}}}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
import math
from typing import Any

import numpy as np

from . import metrics
from .baselines import BASELINES
from .forecast import forecast
from .splits import GROUPS, Split, group_of, splits

__all__ = ["evaluate", "format_table", "markdown_tables", "model_forecaster", "targets"]

Forecaster = Callable[[Split], np.ndarray]
"""A split in, quantiles ``[len(metrics.QUANTILES), horizon]`` out."""


def model_forecaster(pipe: Any, *, num_samples: int = 20, context_length: int | None = None, seed: int = 0,
                     batch: Sequence[Split] = (), detrend: bool = True) -> Forecaster:
    """A forecaster from an arkit pipeline; the splits in ``batch`` are forecast together in one call up front.

    ``detrend``: the trend-aware scaling of :func:`~arkit_timeseries.forecast`; nonnegative
    series are floored at 0.
    """
    cache: dict[str, np.ndarray] = {}

    def _run(group: Sequence[Split]) -> None:
        by_horizon: dict[int, list[Split]] = {}
        for s in group:
            by_horizon.setdefault(s.horizon, []).append(s)
        for horizon, items in sorted(by_horizon.items()):
            keep = None if context_length is None else max(context_length - horizon, 1)
            out = forecast(pipe, [s.history for s in items], horizon, num_samples=num_samples, context_length=keep,
                           seed=seed, quantiles=metrics.QUANTILES, names=[s.name for s in items], detrend=detrend,
                           lower=[0.0 if s.series.nonnegative else None for s in items])
            for i, s in enumerate(items):
                cache[s.name] = out.quantiles[i]

    _run(batch)

    def run(s: Split) -> np.ndarray:
        if s.name not in cache:
            _run([s])
        return cache[s.name]

    return run


def _scores(s: Split, q: np.ndarray) -> dict[str, Any]:
    m = s.series.season_length
    row: dict[str, Any] = metrics.relative_scores(s.history, s.truth, q, m)
    extra = {}
    for period in s.series.seasonalities[1:]:
        if period >= len(s.history):
            continue
        naive = metrics.seasonal_naive(s.history, s.horizon, period)
        naive_mase = metrics.mase(s.truth, naive, s.history, m)  # the MASE scale stays the primary season's
        naive_wql = metrics.wql(s.truth, np.broadcast_to(naive, q.shape))
        extra[str(period)] = {"mase": _ratio(row["mase"], naive_mase), "wql": _ratio(row["wql"], naive_wql)}
    out = {k: row[k] for k in ("mase", "wql", "relative_mase", "relative_wql")}
    if extra:
        out["relative_to"] = extra
    return out


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(b) and math.isfinite(a) else math.nan


def _naive(s: Split) -> dict[str, dict[str, float]]:
    out = {}
    for period in s.series.seasonalities:
        if period >= len(s.history) and period != s.series.season_length:
            continue
        naive = metrics.seasonal_naive(s.history, s.horizon, period)
        out[str(period)] = {"mase": metrics.mase(s.truth, naive, s.history, s.series.season_length),
                            "wql": metrics.wql(s.truth, np.broadcast_to(naive, (len(metrics.QUANTILES), s.horizon)))}
    return out


def _baseline(fn: Callable[..., np.ndarray]) -> Forecaster:
    def run(s: Split) -> np.ndarray:
        return fn(s.history, s.horizon, s.series.season_length)

    return run


def _floored(s: Split, q: np.ndarray) -> np.ndarray:
    return np.maximum(q, 0.0) if s.series.nonnegative else q


def evaluate(
    forecasters: Mapping[str, Forecaster], *, names: Sequence[str] | None = None, baselines: Sequence[str] = tuple(BASELINES),
    progress: bool = False, quantiles_out: dict[str, dict[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """Score ``forecasters`` (name -> :data:`Forecaster`) and the named ``baselines`` on the splits of ``names``.

    ``quantiles_out``, when given, receives every forecast (series -> model -> quantiles), e.g. for plots.
    """
    from tqdm.auto import tqdm

    chosen = splits(list(names) if names else None)
    everyone: dict[str, Forecaster] = dict(forecasters)
    for b in baselines:
        everyone[b] = _baseline(BASELINES[b])
    table: dict[str, Any] = {}
    bar = tqdm(total=len(chosen) * len(everyone), disable=not progress, desc="evaluating", unit="forecast")
    for s in chosen:
        row: dict[str, Any] = {"group": group_of(s.name), "horizon": s.horizon,
                               "season_length": s.series.season_length, "length": len(s.series),
                               "nonnegative": s.series.nonnegative, "naive": _naive(s)}
        for model, fn in everyone.items():
            bar.set_postfix_str(f"{s.name}: {model}")
            quantiles = _floored(s, np.asarray(fn(s), dtype=np.float64))
            row[model] = _scores(s, quantiles)
            if quantiles_out is not None:
                quantiles_out.setdefault(s.name, {})[model] = quantiles
            bar.update()
        table[s.name] = row
    bar.close()
    aggregate = {model: metrics.aggregate({name: row[model] for name, row in table.items()}) for model in everyone}
    groups = {}
    for group in GROUPS:
        rows = {name: row for name, row in table.items() if row["group"] == group}
        if rows:
            groups[group] = {model: metrics.aggregate({name: row[model] for name, row in rows.items()})
                             for model in everyone}
    return {"aggregate": aggregate, "groups": groups, "series": table}


def targets(result: Mapping[str, Any], model: str) -> list[dict[str, Any]]:
    """The issue's targets for ``model`` in ``result`` (each ``{"name", "value", "target", "met"}``).

    In-domain: the geometric-mean relative WQL and MASE below seasonal naive's
    (the ``seasonal-naive`` baseline: its WQL uses quantiles from residuals, its MASE is 1)
    and below the seasonal auto-ARIMA's. Zero-shot: both below seasonal naive's.
    A target whose group or baseline is missing from ``result`` is left out.
    """
    out = []
    wanted = (("in-domain", "seasonal-naive"), ("in-domain", "seasonal-arima"), ("zero-shot", "seasonal-naive"))
    for group, baseline in wanted:
        scores = result.get("groups", {}).get(group, {})
        if model not in scores or baseline not in scores:
            continue
        for metric in ("relative_wql", "relative_mase"):
            value, bar = round(scores[model][metric], 4), round(scores[baseline][metric], 4)
            out.append({"name": f"{group} {metric.split('_')[1].upper()} of {model} below {baseline}",
                        "value": value, "target": bar, "met": bool(math.isfinite(value) and value < bar)})
    return out


def format_table(result: Mapping[str, Any]) -> str:
    """A plain-text table: relative MASE / WQL per series and model, then the geometric means."""
    models = list(result["aggregate"])
    width = max(len(name) for name in result["series"]) + 2
    width = max(width, 30)
    lines = ["relative MASE / relative WQL vs seasonal naive (lower is better, < 1 beats naive); * zero-shot",
             "series".ljust(width) + "".join(m.rjust(16) for m in models)]
    for name, row in result["series"].items():
        name = name + (" *" if row.get("group") == "zero-shot" else "")
        cells = "".join(f"{row[m]['relative_mase']:7.2f} /{row[m]['relative_wql']:6.2f} ".rjust(16) for m in models)
        lines.append(name.ljust(width) + cells)
        for period in row[models[0]].get("relative_to", {}):
            cells = "".join(f"{row[m]['relative_to'][period]['mase']:7.2f} /{row[m]['relative_to'][period]['wql']:6.2f} "
                            .rjust(16) for m in models)
            lines.append(f"  vs naive m={period}".ljust(width) + cells)
    for label, agg in [(f"geometric mean, {g}", a) for g, a in result.get("groups", {}).items()] + [
            ("geometric mean, all", result["aggregate"])]:
        lines.append(label.ljust(width)
                     + "".join(f"{agg[m]['relative_mase']:7.2f} /{agg[m]['relative_wql']:6.2f} ".rjust(16) for m in models))
    for t in result.get("targets", []):
        lines.append(f"target: {t['name']}: {t['value']:.3f} < {t['target']:.3f}  met: {str(t['met']).lower()}")
    return "\n".join(lines)


def markdown_tables(result: Mapping[str, Any]) -> str:
    """The docs' tables, rendered from an evaluation result: group means, targets, then every series.

    ``docs/timeseries.md`` holds this text for the JSON committed next to it
    (``docs/img/timeseries/eval.json``); a test re-renders it and compares.
    """
    models = list(result["aggregate"])
    lines = ["| group | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for group, agg in [*result.get("groups", {}).items(), ("all", result["aggregate"])]:
        n = int(next(iter(agg.values()))["series"])
        lines.append(f"| {group} ({n} series) | "
                     + " | ".join(f"{agg[m]['relative_mase']:.3f} / {agg[m]['relative_wql']:.3f}" for m in models) + " |")
    if result.get("targets"):
        lines += ["", "| target | value | bar | met |", "|---|---|---|---|"]
        lines += [f"| {t['name']} | {t['value']:.3f} | {t['target']:.3f} | {'yes' if t['met'] else '**no**'} |"
                  for t in result["targets"]]
    lines += ["", "| series | group | h | " + " | ".join(models) + " |", "|---|---|---|" + "---|" * len(models)]
    for name, row in result["series"].items():
        lines.append(f"| {name} | {row['group']} | {row['horizon']} | "
                     + " | ".join(f"{row[m]['relative_mase']:.2f} / {row[m]['relative_wql']:.2f}" for m in models)
                     + " |")
    return "\n".join(lines)
