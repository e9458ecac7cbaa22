"""Classical probabilistic baselines: seasonal naive, seasonal auto-ARIMA, ARIMA, ETS and a linear AR model.

Each baseline is a function ``(history, horizon, season_length) -> [len(QUANTILES), horizon]``
quantile array, so the evaluation scores them exactly like a model:

- :func:`seasonal_naive`: the last season repeated (its median, exactly the metrics'
  seasonal naive), with quantiles from the empirical quantiles of the in-sample
  seasonal differences ``y_t - y_{t-m}``, centred on their median and widened by
  ``sqrt(k)`` in the ``k``-th season ahead (the random-walk-in-seasons error growth).
- :func:`seasonal_arima`: ``pmdarima.auto_arima`` (statsmodels' SARIMAX underneath) with
  its seasonal search: ``D`` by the OCSB test, then the stepwise Hyndman-Khandakar
  search over ``p, q <= 3`` and seasonal ``P, Q <= 1`` by AICc. The cost is bounded:
  at most ``max(200, 10 m)`` of the latest values (``max_context`` at most), and for
  seasons longer than 24 (co2's 52, taylor's 48, where one SARIMAX fit with a
  seasonal AR term takes minutes) the seasonal part is the differencing alone
  (``P = Q = 0``). Quantiles from the Gaussian prediction intervals.

- :func:`arima`: ``pmdarima.auto_arima`` without seasonal orders, stepwise and bounded (p, q <= 2, d chosen by
  a KPSS test); the season enters as Fourier terms
  (``pmdarima.preprocessing.FourierFeaturizer``, up to 4 pairs) used as exogenous
  regressors (regression with ARIMA errors, the usual recipe for long seasons and much
  faster than seasonal ARIMA). Quantiles come from the Gaussian prediction interval.
- :func:`ets`: ``statsmodels`` ``ETSModel`` (additive errors), the configuration of
  lowest AIC among no or damped additive trend and no or additive season (seasonal
  states initialised heuristically, so long seasons stay cheap);
  quantiles from 200 simulated paths.
- :func:`linear_ar`: AR(p) with intercept fitted by least squares on the standardized
  context (``p = 2 * season_length``, at least 3, at most a quarter of the context),
  as AR-Net's linear core without the sparsity; quantiles from 200 paths simulated
  with Gaussian residuals.

Every baseline sees at most the last ``max_context`` (600) values, with gaps
(NaN) filled by linear interpolation, which keeps the whole evaluation to a few
minutes on one core.
"""

from __future__ import annotations

from collections.abc import Callable
import warnings

import numpy as np
from scipy import stats

from arkit.errors import InputError

from .metrics import QUANTILES

__all__ = ["BASELINES", "arima", "ets", "linear_ar", "seasonal_arima", "seasonal_naive"]

MAX_CONTEXT = 600
_Z = stats.norm.ppf(QUANTILES)


def _context(history: np.ndarray, max_context: int) -> np.ndarray:
    values = np.asarray(history, dtype=np.float64)[-max_context:]
    observed = ~np.isnan(values)
    if observed.sum() < 2:
        raise InputError("a baseline needs at least two observed values in the history")
    if not observed.all():
        index = np.arange(len(values))
        values = np.interp(index, index[observed], values[observed])
    return values


def _from_paths(paths: np.ndarray) -> np.ndarray:
    return np.quantile(paths, QUANTILES, axis=0)


def arima(history: np.ndarray, horizon: int, season_length: int = 1, *, max_context: int = MAX_CONTEXT) -> np.ndarray:
    """Quantiles of a bounded ``auto_arima`` forecast (Gaussian intervals)."""
    import pmdarima
    import pmdarima.pipeline
    import pmdarima.preprocessing

    y = _context(history, max_context)
    k = min(4, (season_length - 1) // 2)
    fourier = k >= 1 and len(y) >= 2 * season_length
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arima_step = pmdarima.arima.AutoARIMA(seasonal=False, max_p=2, max_q=2, max_order=4, stepwise=True,
                                              maxiter=30, error_action="ignore", suppress_warnings=True)
        steps = [("fourier", pmdarima.preprocessing.FourierFeaturizer(m=season_length, k=k))] if fourier else []
        model = pmdarima.pipeline.Pipeline([*steps, ("arima", arima_step)])
        model.fit(y)
        mean, interval = model.predict(n_periods=horizon, return_conf_int=True, alpha=0.2)
    mean, interval = np.asarray(mean, dtype=np.float64), np.asarray(interval, dtype=np.float64)
    sd = np.maximum((interval[:, 1] - interval[:, 0]) / (2 * stats.norm.ppf(0.9)), 0.0)
    return mean[None, :] + _Z[:, None] * sd[None, :]


def seasonal_naive(history: np.ndarray, horizon: int, season_length: int = 1, *,
                   max_context: int = MAX_CONTEXT) -> np.ndarray:
    """Seasonal naive with quantiles from its in-sample residuals (see the module docstring)."""
    y = _context(history, max_context)
    m = season_length if len(y) > season_length >= 1 else 1
    point = y[len(y) - m:][np.arange(horizon) % m]
    residuals = y[m:] - y[:-m]
    spread = np.quantile(residuals, QUANTILES) - np.quantile(residuals, 0.5)
    seasons_ahead = np.arange(horizon) // m + 1
    return point[None, :] + spread[:, None] * np.sqrt(seasons_ahead)[None, :]


_LONG_SEASON = 24


def seasonal_arima(history: np.ndarray, horizon: int, season_length: int = 1, *,
                   max_context: int = MAX_CONTEXT) -> np.ndarray:
    """Quantiles of a seasonal ``auto_arima`` forecast (Gaussian intervals); see the module docstring."""
    import pmdarima

    m = max(int(season_length), 1)
    y = _context(history, min(max_context, max(200, 10 * m)))
    seasonal = m > 1 and len(y) >= 2 * m + 2
    long_season = m > _LONG_SEASON
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        model = pmdarima.auto_arima(
            y, seasonal=seasonal, m=m if seasonal else 1, max_p=3, max_q=3, max_order=None,
            max_P=0 if long_season else 1, max_Q=0 if long_season else 1, max_D=1, start_P=0, start_Q=0,
            information_criterion="aicc", stepwise=True, maxiter=50, error_action="ignore", suppress_warnings=True,
        )
        mean, interval = model.predict(n_periods=horizon, return_conf_int=True, alpha=0.2)
    mean, interval = np.asarray(mean, dtype=np.float64), np.asarray(interval, dtype=np.float64)
    sd = np.maximum((interval[:, 1] - interval[:, 0]) / (2 * stats.norm.ppf(0.9)), 0.0)
    sd = np.where(np.isfinite(sd), sd, 0.0)
    return mean[None, :] + _Z[:, None] * sd[None, :]


def ets(history: np.ndarray, horizon: int, season_length: int = 1, *, max_context: int = MAX_CONTEXT,
        seed: int = 0) -> np.ndarray:
    """Quantiles of 200 simulated paths from the lowest-AIC additive-error ETS model."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = _context(history, max_context)
    seasons = [None, "add"] if 1 < season_length and len(y) >= 2 * season_length + 2 else [None]
    best = None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for trend in (None, "add"):
            for seasonal in seasons:
                try:
                    fit = ETSModel(y, error="add", trend=trend, damped_trend=trend is not None, seasonal=seasonal,
                                   seasonal_periods=season_length if seasonal else None,
                                   initialization_method="heuristic" if seasonal else "estimated",
                                   ).fit(disp=False, maxiter=100)
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(fit.aic) and (best is None or fit.aic < best.aic):
                    best = fit
        if best is None:
            raise InputError("no ETS configuration could be fitted to this history")
        paths = best.simulate(horizon, repetitions=200, anchor="end", rng=np.random.default_rng(seed))
    return _from_paths(np.asarray(paths, dtype=np.float64).reshape(horizon, -1).T)


def linear_ar(history: np.ndarray, horizon: int, season_length: int = 1, *, max_context: int = MAX_CONTEXT,
              seed: int = 0, paths: int = 200) -> np.ndarray:
    """Quantiles of ``paths`` simulated paths of a least-squares AR(p) with Gaussian residuals."""
    y = _context(history, max_context)
    mu, sd = float(y.mean()), float(y.std()) or 1.0
    z = (y - mu) / sd
    p = int(np.clip(2 * season_length, 3, max(len(z) // 4, 1)))
    rows = np.lib.stride_tricks.sliding_window_view(z[:-1], p)  # rows[i] = z[i : i + p], target z[i + p]
    design = np.hstack([rows, np.ones((len(rows), 1))])
    coef, *_ = np.linalg.lstsq(design, z[p:], rcond=None)
    residual_sd = float(np.std(z[p:] - design @ coef)) if len(rows) > p + 1 else float(np.std(z))
    rng = np.random.default_rng(seed)
    state = np.tile(z[-p:], (paths, 1))
    out = np.empty((paths, horizon))
    for t in range(horizon):
        step = state @ coef[:p] + coef[p] + rng.normal(0.0, residual_sd, paths)
        out[:, t] = step
        state = np.hstack([state[:, 1:], step[:, None]])
    return _from_paths(mu + sd * out)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "seasonal-naive": seasonal_naive, "seasonal-arima": seasonal_arima, "arima": arima, "ets": ets,
    "linear-ar": linear_ar,
}
"""The baselines by the names the evaluation reports."""
