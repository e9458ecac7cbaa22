"""The AR-Net check: forecasts of a known AR(p) process against its optimal predictor.

For an AR(p) process ``y_t = sum_i phi_i y_{t-i} + e_t`` with Gaussian noise, the
best forecast of ``y_{t+k}`` given the past is the noise-free recursion of the
model (the conditional mean, also the median). :func:`ar_check` simulates test
series from known coefficients, forecasts their last ``horizon`` values with a
pipeline and with the least-squares linear AR baseline, and reports each
forecaster's RMSE next to the optimal predictor's, plus the relative gap
``rmse / optimal_rmse - 1`` (0 is optimal) and the RMSE between the forecaster's
median and the optimal forecast itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .baselines import linear_ar
from .forecast import forecast

__all__ = ["ar_check", "simulate_ar"]

COEFFICIENTS = (0.6, -0.3, 0.2)


def simulate_ar(n: int, length: int, coefficients: Sequence[float] = COEFFICIENTS, *, seed: int = 0,
                burn_in: int = 100) -> np.ndarray:
    """``n`` series of an AR(p) process with unit Gaussian noise: ``[n, length]``."""
    rng = np.random.default_rng(seed)
    phi = np.asarray(coefficients, dtype=np.float64)
    p = len(phi)
    y = np.zeros((n, length + burn_in + p))
    noise = rng.normal(size=y.shape)
    for t in range(p, y.shape[1]):
        y[:, t] = y[:, t - p:t][:, ::-1] @ phi + noise[:, t]
    return y[:, -length:]


def _optimal(history: np.ndarray, horizon: int, phi: np.ndarray) -> np.ndarray:
    state = list(history[-len(phi):])
    out = []
    for _ in range(horizon):
        value = float(np.dot(phi, state[::-1][: len(phi)]))
        out.append(value)
        state.append(value)
    return np.asarray(out)


def ar_check(pipe: Any, *, coefficients: Sequence[float] = COEFFICIENTS, series: int = 50, context: int = 200,
             horizon: int = 8, num_samples: int = 20, seed: int = 0) -> dict[str, Any]:
    """RMSEs of ``pipe``, the linear AR baseline and the optimal predictor on simulated AR(p) tails."""
    phi = np.asarray(coefficients, dtype=np.float64)
    data = simulate_ar(series, context + horizon, tuple(phi), seed=seed + 1)
    history, truth = data[:, :context], data[:, context:]
    optimal = np.stack([_optimal(h, horizon, phi) for h in history])
    model = forecast(pipe, list(history), horizon, num_samples=num_samples, seed=seed).median
    linear = np.stack([linear_ar(h, horizon, 1, seed=seed)[4] for h in history])

    def rmse(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(np.mean((a - b) ** 2)))

    best = rmse(optimal, truth)
    out: dict[str, Any] = {"coefficients": list(map(float, phi)), "series": series, "context": context,
                           "horizon": horizon, "optimal_rmse": best}
    for name, point in (("model", model), ("linear-ar", linear)):
        out[name] = {"rmse": rmse(point, truth), "gap": rmse(point, truth) / best - 1.0,
                     "rmse_to_optimal": rmse(point, optimal)}
    return out
