"""Forecasts from a continuous pipeline: ``timeseries/patch`` + a distribution head (``timeseries/patch-gmm``).

The context (gaps filled by linear interpolation, oldest values dropped to a
multiple of the patch length) is scaled by its own statistics and cut into
patches; ``arkit.generate_continuous`` samples ``ceil(horizon / P)`` next patches
per sample path (the samples of one series are the rows of one batch, with the KV
cache); the paths are mapped back with the context's scale and cut to ``horizon``.
Train the pipeline with ``pipe.fit`` on scaled series whose length is a multiple of
the patch length (:func:`patch_windows`).
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import Any

import numpy as np
import torch

from arkit.errors import ConfigError, InputError

from .forecast import QUANTILES, Forecast
from .patch import PatchTokenizer
from .scaling import as_series

__all__ = ["forecast_continuous", "patch_windows"]


def _filled(values: np.ndarray, label: str) -> np.ndarray:
    observed = ~np.isnan(values)
    if observed.sum() < 2:
        raise InputError(f"{label} has fewer than 2 observed values: give a longer series")
    index = np.arange(len(values))
    return np.interp(index, index[observed], values[observed])


def patch_windows(tokenizer: PatchTokenizer, series: Sequence[Any]) -> list[list[float]]:
    """Training items: each series gap-filled, trimmed to a multiple of the patch length and scaled by itself."""
    out = []
    for index, values in enumerate(series):
        values = tokenizer.trim(_filled(as_series(values), f"series {index}"))
        if len(values):
            scale = tokenizer.scale_of(values)
            out.append(((values - scale.loc) / scale.scale).tolist())
    return out


def forecast_continuous(
    pipe: Any, series: Sequence[Any], horizon: int, *, num_samples: int = 20, quantiles: Sequence[float] = QUANTILES,
    context_length: int | None = None, seed: int | None = None, temperature: float = 1.0,
) -> Forecast:
    """Like :func:`arkit_timeseries.forecast`, for a pipeline with the ``timeseries/patch`` tokenizer."""
    from arkit.generation.continuous import generate_continuous

    tokenizer = pipe.tokenizer
    if not isinstance(tokenizer, PatchTokenizer):
        raise ConfigError(f"forecast_continuous needs the timeseries/patch tokenizer, got {type(tokenizer).__name__}")
    if not isinstance(horizon, int) or isinstance(horizon, bool) or horizon < 1:
        raise ConfigError(f"horizon must be an integer >= 1, got {horizon!r}")
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ConfigError(f"num_samples must be an integer >= 1, got {num_samples!r}")
    if not series:
        raise InputError("no series to forecast: give at least one")
    P = tokenizer.patch_length
    steps = math.ceil(horizon / P)
    room = (pipe.backbone.max_seq_len - steps) * P
    if room < P:
        raise ConfigError(f"horizon {horizon} leaves no context in the model's {pipe.backbone.max_seq_len} patches")
    keep = room if context_length is None else min(int(context_length), room)
    levels = tuple(float(q) for q in quantiles)
    generator_seed = seed
    all_samples = []
    for index, values in enumerate(series):
        values = tokenizer.trim(_filled(as_series(values)[-keep:], f"series {index}"))
        if len(values) < P:
            raise InputError(f"series {index} has fewer than patch_length={P} values")
        patches, scale = tokenizer.encode_with_scale(values)
        context = torch.tensor(patches, dtype=torch.float32).unsqueeze(0).expand(num_samples, -1, -1).contiguous()
        with torch.no_grad():
            out = generate_continuous(pipe.backbone, pipe.head, context, steps, seed=generator_seed,
                                      temperature=temperature)
        paths = out.reshape(num_samples, -1)[:, :horizon].double().numpy()
        all_samples.append(scale.loc + scale.scale * paths)
        generator_seed = None if seed is None else seed + index + 1
    samples = np.stack(all_samples)
    return Forecast(samples=samples, quantile_levels=levels, quantiles=np.quantile(samples, levels, axis=1).swapaxes(0, 1),
                    mean=samples.mean(axis=1))
