"""Probabilistic forecasts from a pipeline over ``timeseries/mean-scale-bins`` tokens (the Chronos recipe).

Each series' context is scaled by its own :class:`~arkit_timeseries.Scale` and
tokenized; the pipeline samples ``num_samples`` continuations per series, all
series and samples as rows of one batched generation (the loop pads rows of
different lengths and keeps the KV cache); the sampled ids are mapped back with
each series' scale, and quantiles and the mean come from the sample paths.
Sampling is restricted to value tokens (never ``pad``, ``eos`` or ``missing``).

Two options shape the sample paths:

- ``detrend=True`` (trend-aware scaling): the least-squares line through each
  context (:func:`~arkit_timeseries.scaling.fit_trend`) is subtracted before
  scaling and its extrapolation added to the sampled future, so a trend
  continues instead of being pulled back to the context's mean. The shipped
  checkpoint was trained on windows with and without this transform.
- ``lower``: a floor for the values (``0.0`` for counts and amounts that cannot
  go negative), one for all series or one per series (``None`` for no floor);
  samples below it are raised to it, so every quantile respects it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import torch

import arkit
from arkit.errors import ConfigError, InputError

from .bins import MeanScaleBinsTokenizer
from .scaling import Scale, as_series, fit_trend, trend_line

__all__ = ["Forecast", "forecast", "scaled_for_training"]

QUANTILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@attrs.frozen(kw_only=True, eq=False)
class Forecast:
    """Sample paths and their summaries for each series (arrays are ``numpy``)."""

    samples: np.ndarray
    """``[series, num_samples, horizon]`` sampled values."""
    quantile_levels: tuple[float, ...]
    quantiles: np.ndarray
    """``[series, len(quantile_levels), horizon]``, from the samples."""
    mean: np.ndarray
    """``[series, horizon]``."""

    @property
    def median(self) -> np.ndarray:
        """``[series, horizon]``: the 0.5 quantile of the samples."""
        return np.quantile(self.samples, 0.5, axis=1)


class _ValueTokens:
    """A constraint that allows value ids only: the model may never emit pad, eos or missing."""

    def __init__(self, tokenizer: MeanScaleBinsTokenizer) -> None:
        self.mask = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
        self.mask[tokenizer.N_SPECIAL :] = True

    def start(self) -> int:
        return 0  # a real state, never None: the decode loop reads a None state as "no constraint on this row"

    def allowed(self, state: Any) -> torch.Tensor:
        return self.mask

    def advance(self, state: Any, token: int) -> int:
        return 0

    def complete(self, state: Any) -> bool:
        return False


def _tokenizer(pipe: arkit.Pipeline) -> MeanScaleBinsTokenizer:
    tokenizer = pipe.tokenizer
    if not isinstance(tokenizer, MeanScaleBinsTokenizer):
        raise ConfigError(f"forecast needs a pipeline with the timeseries/mean-scale-bins tokenizer, "
                          f"got {type(tokenizer).__name__}")
    return tokenizer


def scaled_for_training(pipe: arkit.Pipeline, series: Sequence[Any]) -> list[list[float]]:
    """Each series scaled by its own scale: items for ``pipe.fit`` (which encodes with the identity scale)."""
    tokenizer = _tokenizer(pipe)
    out = []
    for values in series:
        values = as_series(values)
        scale = tokenizer.scale_of(values)
        out.append(((values - scale.loc) / scale.scale).tolist())
    return out


def _floors(lower: Any, count: int) -> list[float | None]:
    """``lower`` as one floor (or ``None``) per series; raises :class:`arkit.ConfigError` when malformed."""
    if lower is None or isinstance(lower, (int, float, np.integer, np.floating)) and not isinstance(lower, bool):
        floors = [None if lower is None else float(lower)] * count
    elif isinstance(lower, Sequence) and not isinstance(lower, (str, bytes)) and len(lower) == count:
        floors = [None if v is None else float(v) for v in lower]
    else:
        raise ConfigError(f"lower must be a number, None, or one number-or-None per series ({count}), got {lower!r}")
    if any(v is not None and not np.isfinite(v) for v in floors):
        raise ConfigError(f"lower must be finite, got {lower!r}")
    return floors


def forecast(
    pipe: arkit.Pipeline,
    series: Sequence[Any],
    horizon: int,
    *,
    num_samples: int = 20,
    quantiles: Sequence[float] = QUANTILES,
    context_length: int | None = None,
    seed: int | None = None,
    min_context: int = 2,
    names: Sequence[str] | None = None,
    detrend: bool = False,
    lower: float | Sequence[float | None] | None = None,
) -> Forecast:
    """Sample ``num_samples`` paths of ``horizon`` steps after each series; quantiles and mean from them.

    ``series``: a list of 1-D sequences of floats (different lengths allowed, NaN
    for missing values). ``context_length`` keeps the last values of each series
    (by default as many as the model's context leaves room for). ``detrend`` and
    ``lower``: see the module docstring.
    """
    tokenizer = _tokenizer(pipe)
    for name, value in (("horizon", horizon), ("num_samples", num_samples)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    levels = tuple(float(q) for q in quantiles)
    if not levels or any(not 0.0 < q < 1.0 for q in levels):
        raise ConfigError(f"quantiles must lie strictly between 0 and 1, got {list(quantiles)}")
    if not series:
        raise InputError("no series to forecast: give at least one")
    if names is not None and len(names) != len(series):
        raise ConfigError(f"got {len(names)} names for {len(series)} series: give one name per series")
    if not isinstance(min_context, int) or isinstance(min_context, bool) or min_context < 1:
        raise ConfigError(f"min_context must be an integer >= 1, got {min_context!r}")
    floors = _floors(lower, len(series))
    room = pipe.backbone.max_seq_len - horizon
    if room < 1:
        raise ConfigError(f"horizon {horizon} leaves no context in the model's {pipe.backbone.max_seq_len} positions")
    keep = room if context_length is None else min(int(context_length), room)
    prompts, scales, trends = [], [], []
    for index, values in enumerate(series):
        label = f"series {index}" if names is None else f"series {names[index]!r}"
        try:
            values = as_series(values)
        except InputError as error:
            raise InputError(f"{label}: {error}") from None
        if values.size == 0:
            raise InputError(f"{label} is empty: give at least {min_context} values")
        observed = int(np.count_nonzero(~np.isnan(values[-keep:])))
        if observed == 0:
            raise InputError(f"{label} has no observed values to forecast from (all NaN)")
        if observed < min_context:
            raise InputError(f"{label} has {observed} observed values in its context, fewer than the minimum "
                             f"context of {min_context}: give a longer series")
        context = values[-keep:]
        trend = fit_trend(context) if detrend else (0.0, 0.0)
        residual = context - trend_line(trend, 0, len(context))
        scale = tokenizer.scale_of(residual)
        tiny = 1e-9 * (1.0 + float(np.nanmax(np.abs(context))))
        if detrend and float(np.nanstd(residual)) <= tiny:
            # an exact line leaves no residual spread: keep it (near) 0 instead of the fallback scale 1
            scale = Scale(float(np.nanmean(residual)), tiny)
        ids = tokenizer.encode(residual, scale=scale)
        prompts += [ids] * num_samples
        scales.append(scale)
        trends.append(trend_line(trend, len(context), horizon))
    out = pipe.generate(prompt_ids=prompts, max_new_tokens=horizon, eos_token_ids=(), seed=seed,
                        constraint=_ValueTokens(tokenizer))
    new_ids = np.asarray(out.sequences, dtype=np.int64).reshape(len(series), num_samples, horizon)
    samples = np.stack([tokenizer.decode_array(new_ids[i], scale=scales[i]) + trends[i][None, :]
                        for i in range(len(series))])
    for i, floor in enumerate(floors):
        if floor is not None:
            samples[i] = np.maximum(samples[i], floor)
    return Forecast(samples=samples, quantile_levels=levels, quantiles=np.quantile(samples, levels, axis=1).swapaxes(0, 1),
                    mean=samples.mean(axis=1))
