"""Per-series scaling shared by the time-series tokenizers.

A model sees scaled values ``(x - loc) / scale``; a forecast is mapped back with
``loc + scale * value``. The scale is a property of one series (computed from its
context, never from the future), so it travels next to the tokens as a
:class:`Scale`:

- ``"mean"`` (Chronos): ``loc = 0``, ``scale = mean(|x|)`` over the observed
  (non-NaN) context values. Scale-free and sign-preserving, but a series with a
  high level and a small variation keeps its variation small: co2 (level about
  350 ppm, seasonal swing about +-3 ppm, i.e. about 1 %) scales to values within
  about 0.99-1.01, which falls into one or two of 4094 bins over [-15, 15] (bin
  width 0.0073): the seasonal shape is lost.
- ``"mean-std"`` (affine): ``loc = mean(x)``, ``scale = std(x)`` of the observed
  context. co2 becomes a zero-mean, unit-variance series and its seasonal swing
  spans dozens of bins. The price: the level is no longer relative (a series and
  the same series plus a constant tokenize identically), and a short context
  with a small std magnifies noise.

Either falls back to ``scale = 1`` when the statistic is 0 or there is no
observed value (an all-NaN or constant series under ``"mean-std"``; an all-zero
series under ``"mean"``).
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Any, Literal, NamedTuple

import numpy as np

from arkit.errors import ConfigError, InputError

__all__ = ["SCALINGS", "Scale", "as_series", "compute_scale", "fit_trend", "trend_line"]

SCALINGS = ("mean", "mean-std")
Scaling = Literal["mean", "mean-std"]


class Scale(NamedTuple):
    """``x = loc + scale * scaled``. ``Scale()`` is the identity. A plain tuple: JSON-friendly."""

    loc: float = 0.0
    scale: float = 1.0

    @classmethod
    def coerce(cls, value: Any) -> Scale:
        """A :class:`Scale` from ``None`` (identity), a number (``loc`` 0) or a ``(loc, scale)`` pair."""
        if value is None:
            return cls()
        if isinstance(value, Scale):
            result = value
        elif isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
            result = cls(0.0, float(value))
        elif isinstance(value, Sequence) and len(value) == 2:
            result = cls(float(value[0]), float(value[1]))
        else:
            raise InputError(f"scale must be a number or a (loc, scale) pair, got {value!r}")
        if not (math.isfinite(result.loc) and math.isfinite(result.scale) and result.scale > 0):
            raise InputError(f"scale needs a finite loc and a finite scale > 0, got {tuple(result)}")
        return result


def check_scaling(scaling: str) -> str:
    if scaling not in SCALINGS:
        raise ConfigError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    return scaling


def as_series(item: Any, *, allow_nan: bool = True) -> np.ndarray:
    """``item`` as a 1-D float64 array; raises :class:`arkit.InputError` for anything else."""
    if isinstance(item, (str, bytes)):
        raise InputError(f"a series must be a sequence of numbers, got {type(item).__name__}")
    try:
        values = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"a series must be a sequence of numbers, got {type(item).__name__} holding non-numbers") from None
    if values.ndim != 1:
        raise InputError(f"a series must be one-dimensional, got shape {list(values.shape)}")
    if np.isinf(values).any():
        raise InputError(f"the series holds infinite values (at positions {np.flatnonzero(np.isinf(values))[:5].tolist()})")
    if not allow_nan and np.isnan(values).any():
        raise InputError(f"the series holds NaN (at positions {np.flatnonzero(np.isnan(values))[:5].tolist()}): fill them first")
    return values


def compute_scale(values: np.ndarray, scaling: str) -> Scale:
    """The :class:`Scale` of ``values`` (NaNs ignored) under ``scaling`` (see the module docstring)."""
    observed = values[~np.isnan(values)]
    if observed.size == 0:
        return Scale()
    # divide by the largest magnitude first so that huge values do not overflow the sums
    peak = float(np.max(np.abs(observed)))
    if peak == 0.0:
        return Scale()
    unit = observed / peak
    if scaling == "mean":
        loc, scale = 0.0, float(np.mean(np.abs(unit))) * peak
    else:
        mu = float(np.mean(unit))
        loc, scale = mu * peak, float(np.std(unit)) * peak
    if not (scale > 0 and math.isfinite(scale)):
        scale = 1.0
    return Scale(loc, scale)


def fit_trend(values: np.ndarray) -> tuple[float, float]:
    """``(intercept, slope)`` of the least-squares line through the observed values at positions ``0 .. n-1``.

    The trend-aware scaling: a forecaster subtracts this line from the context
    (and its extrapolation from the future), scales the residual, and adds the
    extrapolated line back to the forecast. With fewer than two observed values
    the line is flat at their mean (``0`` when there is none).
    """
    values = np.asarray(values, dtype=np.float64)
    index = np.flatnonzero(~np.isnan(values))
    if index.size == 0:
        return 0.0, 0.0
    if index.size < 2:
        return float(values[index[0]]), 0.0
    y = values[index]
    t = index.astype(np.float64)
    t_mean, y_mean = float(t.mean()), float(y.mean())
    slope = float(np.sum((t - t_mean) * (y - y_mean)) / np.sum((t - t_mean) ** 2))
    return y_mean - slope * t_mean, slope


def trend_line(trend: tuple[float, float], start: int, length: int) -> np.ndarray:
    """The line ``intercept + slope * t`` at positions ``start .. start + length - 1``."""
    return trend[0] + trend[1] * np.arange(start, start + length, dtype=np.float64)
