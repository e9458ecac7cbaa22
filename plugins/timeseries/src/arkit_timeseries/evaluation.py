"""The Chronos-style evaluation on the bundled series: a model side by side with classical baselines.

For every split (:mod:`arkit_timeseries.splits`) each forecaster sees the
history and forecasts the held-out tail; MASE and WQL are divided by seasonal
naive's (:mod:`arkit_timeseries.metrics`) and aggregated by the geometric mean
over series. A series with several seasonal periods (taylor: 48 and 336) also
gets relative scores against seasonal naive for each extra period, under
``"relative_to"`` (the aggregate uses the first, ``season_length``).

:func:`evaluate` returns a JSON-ready dict::

    {"config": {...},
     "aggregate": {"<model>": {"relative_mase": g, "relative_wql": g, "series": n}, ...},
     "series": {"<name>": {"horizon": h, "season_length": m, "length": n,
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
from .splits import Split, splits

__all__ = ["evaluate", "format_table", "model_forecaster"]

Forecaster = Callable[[Split], np.ndarray]
"""A split in, quantiles ``[len(metrics.QUANTILES), horizon]`` out."""


def model_forecaster(pipe: Any, *, num_samples: int = 20, context_length: int | None = None, seed: int = 0,
                     batch: Sequence[Split] = ()) -> Forecaster:
    """A forecaster from an arkit pipeline; the splits in ``batch`` are forecast together in one call up front."""
    cache: dict[str, np.ndarray] = {}

    def _run(group: Sequence[Split]) -> None:
        by_horizon: dict[int, list[Split]] = {}
        for s in group:
            by_horizon.setdefault(s.horizon, []).append(s)
        for horizon, items in sorted(by_horizon.items()):
            keep = None if context_length is None else max(context_length - horizon, 1)
            out = forecast(pipe, [s.history for s in items], horizon, num_samples=num_samples, context_length=keep,
                           seed=seed, quantiles=metrics.QUANTILES, names=[s.name for s in items])
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


def evaluate(
    forecasters: Mapping[str, Forecaster], *, names: Sequence[str] | None = None, baselines: Sequence[str] = tuple(BASELINES),
    progress: bool = False,
) -> dict[str, Any]:
    """Score ``forecasters`` (name -> :data:`Forecaster`) and the named ``baselines`` on the splits of ``names``."""
    from tqdm.auto import tqdm

    chosen = splits(list(names) if names else None)
    everyone: dict[str, Forecaster] = dict(forecasters)
    for b in baselines:
        everyone[b] = _baseline(BASELINES[b])
    table: dict[str, Any] = {}
    bar = tqdm(total=len(chosen) * len(everyone), disable=not progress, desc="evaluating", unit="forecast")
    for s in chosen:
        row: dict[str, Any] = {"horizon": s.horizon, "season_length": s.series.season_length,
                               "length": len(s.series), "naive": _naive(s)}
        for model, fn in everyone.items():
            bar.set_postfix_str(f"{s.name}: {model}")
            row[model] = _scores(s, np.asarray(fn(s), dtype=np.float64))
            bar.update()
        table[s.name] = row
    bar.close()
    aggregate = {model: metrics.aggregate({name: row[model] for name, row in table.items()}) for model in everyone}
    return {"aggregate": aggregate, "series": table}


def format_table(result: Mapping[str, Any]) -> str:
    """A plain-text table: relative MASE / WQL per series and model, then the geometric means."""
    models = list(result["aggregate"])
    width = max(len(name) for name in result["series"]) + 2
    lines = ["relative MASE / relative WQL vs seasonal naive (lower is better, < 1 beats naive)",
             "series".ljust(width) + "".join(m.rjust(16) for m in models)]
    for name, row in result["series"].items():
        cells = "".join(f"{row[m]['relative_mase']:7.2f} /{row[m]['relative_wql']:6.2f} ".rjust(16) for m in models)
        lines.append(name.ljust(width) + cells)
        for period in row[models[0]].get("relative_to", {}):
            cells = "".join(f"{row[m]['relative_to'][period]['mase']:7.2f} /{row[m]['relative_to'][period]['wql']:6.2f} "
                            .rjust(16) for m in models)
            lines.append(f"  vs naive m={period}".ljust(width) + cells)
    agg = result["aggregate"]
    lines.append("geometric mean".ljust(width)
                 + "".join(f"{agg[m]['relative_mase']:7.2f} /{agg[m]['relative_wql']:6.2f} ".rjust(16) for m in models))
    return "\n".join(lines)
