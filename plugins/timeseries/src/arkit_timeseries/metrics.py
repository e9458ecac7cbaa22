"""Forecast metrics of the Chronos evaluation protocol.

For each series: a history, the held-out truth (``horizon`` values) and a
forecast given as quantiles ``[len(quantiles), horizon]`` (the default levels
0.1, 0.2, ..., 0.9). Two scores, each divided by the same score of the seasonal
naive forecast on that series, then aggregated over series by the geometric mean
(:func:`aggregate`); below 1 means better than seasonal naive.

- MASE (seasonal): ``mean|y - median| / mean_{t >= m}|h_t - h_{t-m}|`` over the
  history ``h``, ``m`` the season length (1 when the history has ``m`` values or
  fewer). The point forecast is the 0.5 quantile.
- WQL: the weighted quantile loss, ``mean over q of 2 * sum_t rho_q(y_t, yhat_q,t)
  / sum_t |y_t|`` with the pinball loss ``rho_q(y, yhat) = max(q (y - yhat),
  (q - 1)(y - yhat))``.

The seasonal naive forecast repeats the last season of the history (forward
filled over NaN gaps); as a point forecast, all its quantiles are equal. NaN
values of the truth are left out of every sum; NaN in the history is ignored
by the MASE scale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import math
from typing import Any

import numpy as np

from arkit.errors import InputError

__all__ = ["QUANTILES", "aggregate", "geometric_mean", "mase", "relative_scores", "seasonal_naive", "wql"]

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _array(values: Any, what: str, dims: int = 1) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must hold numbers") from None
    if array.ndim != dims:
        raise InputError(f"{what} must be {dims}-dimensional, got shape {list(array.shape)}")
    return array


def seasonal_naive(history: Any, horizon: int, season_length: int = 1) -> np.ndarray:
    """``horizon`` values repeating the last ``season_length`` of ``history`` (NaNs forward filled)."""
    h = _array(history, "history")
    if horizon <= 0:
        raise InputError(f"horizon must be > 0, got {horizon}")
    observed = np.flatnonzero(~np.isnan(h))
    if observed.size == 0:
        raise InputError("the history has no observed value")
    filled = h[np.maximum.accumulate(np.where(np.isnan(h), 0, np.arange(len(h))))]
    filled[: observed[0]] = h[observed[0]]
    m = season_length if len(h) >= season_length >= 1 else 1
    last = filled[len(filled) - m:]
    return last[np.arange(horizon) % m]


def _mase_scale(history: np.ndarray, season_length: int) -> float:
    m = season_length if len(history) > season_length >= 1 else 1
    diffs = np.abs(history[m:] - history[:-m]) if len(history) > m else np.array([])
    return float(np.nanmean(diffs)) if np.isfinite(diffs).any() else math.nan


def mase(truth: Any, point: Any, history: Any, season_length: int = 1) -> float:
    """Seasonal MASE of a point forecast (NaN when the history gives no scale or the scale is 0)."""
    y, f, h = _array(truth, "truth"), _array(point, "point forecast"), _array(history, "history")
    if y.shape != f.shape:
        raise InputError(f"truth {list(y.shape)} and forecast {list(f.shape)} differ in shape")
    scale = _mase_scale(h, season_length)
    keep = ~np.isnan(y)
    if not keep.any() or not scale > 0:
        return math.nan
    return float(np.mean(np.abs(y[keep] - f[keep])) / scale)


def wql(truth: Any, quantile_forecast: Any, quantiles: Sequence[float] = QUANTILES) -> float:
    """Weighted quantile loss of ``quantile_forecast`` ``[len(quantiles), horizon]`` (NaN when ``sum|y|`` is 0)."""
    y, q_pred = _array(truth, "truth"), _array(quantile_forecast, "quantile forecast", dims=2)
    levels = np.asarray(quantiles, dtype=np.float64)
    if q_pred.shape != (len(levels), len(y)):
        raise InputError(f"the quantile forecast must be [{len(levels)}, {len(y)}], got {list(q_pred.shape)}")
    keep = ~np.isnan(y)
    denominator = float(np.sum(np.abs(y[keep])))
    if denominator == 0:
        return math.nan
    error = y[keep][None, :] - q_pred[:, keep]
    loss = np.maximum(levels[:, None] * error, (levels[:, None] - 1) * error)
    return float(np.mean(2 * loss.sum(axis=1) / denominator))


def relative_scores(
    history: Any, truth: Any, quantile_forecast: Any, season_length: int = 1,
    quantiles: Sequence[float] = QUANTILES,
) -> dict[str, float]:
    """MASE and WQL of the forecast and of seasonal naive on one series, and their ratios."""
    y = _array(truth, "truth")
    q_pred = _array(quantile_forecast, "quantile forecast", dims=2)
    if 0.5 not in quantiles:
        raise InputError("the quantile levels must include 0.5 (the point forecast for MASE)")
    median = q_pred[list(quantiles).index(0.5)]
    naive = seasonal_naive(history, len(y), season_length)
    naive_q = np.broadcast_to(naive, q_pred.shape)
    scores = {
        "mase": mase(y, median, history, season_length),
        "wql": wql(y, q_pred, quantiles),
        "naive_mase": mase(y, naive, history, season_length),
        "naive_wql": wql(y, naive_q, quantiles),
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        scores["relative_mase"] = float(np.divide(scores["mase"], scores["naive_mase"]))
        scores["relative_wql"] = float(np.divide(scores["wql"], scores["naive_wql"]))
    return scores


def geometric_mean(values: Iterable[float]) -> float:
    """``exp(mean(log v))`` over the finite, positive values (NaN when there are none)."""
    v = np.asarray([x for x in values if math.isfinite(x) and x > 0], dtype=np.float64)
    return float(np.exp(np.mean(np.log(v)))) if v.size else math.nan


def aggregate(rows: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Geometric means of ``relative_mase`` and ``relative_wql`` over ``rows`` (series name -> scores)."""
    return {
        "relative_mase": geometric_mean(r["relative_mase"] for r in rows.values()),
        "relative_wql": geometric_mean(r["relative_wql"] for r in rows.values()),
        "series": float(len(rows)),
    }
