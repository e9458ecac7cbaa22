"""forecast(): batched sample paths (series x samples as rows), quantiles and mean, value tokens only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import arkit
from arkit_timeseries.forecast import forecast, scaled_for_training


def _pipeline() -> arkit.Pipeline:
    torch.manual_seed(0)
    tokenizer = arkit.create("tokenizer", "timeseries/mean-scale-bins", bins=64, low=-4.0, high=4.0)
    V = tokenizer.vocab_size
    return arkit.Pipeline(tokenizer=tokenizer,
                          backbone=arkit.create("backbone", "core/transformer", vocab_size=V, d_model=64, n_layers=2,
                                                n_heads=4, max_seq_len=128),
                          head=arkit.create("head", "core/categorical", d_model=64, vocab_size=V),
                          sampler=arkit.create("sampler", "core/multinomial"))


def _sines(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(72)
    return [rng.uniform(5, 50) + rng.uniform(1, 5) * np.sin(2 * np.pi * t / 12 + rng.uniform(0, 6))
            + rng.normal(0, 0.1, t.size) for _ in range(n)]


def test_a_trained_model_forecasts_a_held_out_sine() -> None:
    pipe = _pipeline()
    pipe.fit(scaled_for_training(pipe, _sines(64, 0)), steps=150, seq_len=72, batch_size=16, lr=3e-3,
             warmup_steps=10, progress=False)
    held = _sines(4, 1)
    context, truth = [s[:60] for s in held], np.stack([s[60:] for s in held])
    out = forecast(pipe, context, 12, num_samples=16, seed=0)
    assert out.samples.shape == (4, 16, 12) and out.quantiles.shape == (4, 9, 12) and out.mean.shape == (4, 12)
    assert np.all(np.diff(out.quantiles, axis=1) >= 0)  # quantiles are ordered
    level = np.abs(out.median - truth).mean()
    flat = np.abs(np.stack([c[-12:].mean() for c in context])[:, None] - truth).mean()
    assert level < 0.5 * flat  # far better than forecasting the recent mean
    again = forecast(pipe, context, 12, num_samples=16, seed=0)
    assert np.array_equal(again.samples, out.samples)  # seeded


def test_series_of_different_lengths_and_missing_values_forecast_together() -> None:
    pipe = _pipeline()
    series = [[1.0, 2.0, float("nan"), 4.0], list(np.linspace(10, 20, 30))]
    out = forecast(pipe, series, 5, num_samples=3, seed=1)
    assert out.samples.shape == (2, 3, 5) and np.isfinite(out.samples).all()  # never a missing or special token


def test_bad_forecast_requests_are_named() -> None:
    pipe = _pipeline()
    with pytest.raises(arkit.ConfigError, match="horizon"):
        forecast(pipe, [[1.0, 2.0]], 0)
    with pytest.raises(arkit.InputError, match="series 1 has no observed values"):
        forecast(pipe, [[1.0, 2.0], [float("nan")]], 3)
    with pytest.raises(arkit.InputError, match="no series"):
        forecast(pipe, [], 3)
    with pytest.raises(arkit.ConfigError, match="quantiles"):
        forecast(pipe, [[1.0, 2.0]], 3, quantiles=(0.0, 0.5))
    with pytest.raises(arkit.ConfigError, match="mean-scale-bins"):
        forecast(arkit.Pipeline.from_preset("core/tiny-byte"), [[1.0]], 2)


@pytest.mark.parametrize(("series", "names", "message"), [
    ([[1.0, 2.0], []], None, "series 1 is empty"),
    ([[float("nan")] * 4], ["gaps"], "series 'gaps' has no observed values to forecast from \\(all NaN\\)"),
    ([[1.0, 2.0], [3.0]], ["a", "b"], "series 'b' has 1 observed values in its context, fewer than the minimum"),
    ([[1.0, 2.0], ["x", "y"]], None, "series 1: a series must be a sequence of numbers"),
    ([[1.0, float("inf"), 2.0]], None, "series 0: the series holds infinite values"),
    ([[[1.0, 2.0]]], None, "series 0: a series must be one-dimensional"),
])
def test_bad_series_are_named_with_the_problem(series: list, names: list | None, message: str) -> None:
    with pytest.raises(arkit.InputError, match=message):
        forecast(_pipeline(), series, 3, names=names)


@pytest.mark.parametrize("horizon", [0, -3, 2.5, True])
def test_bad_horizons_are_refused(horizon: object) -> None:
    with pytest.raises(arkit.ConfigError, match="horizon must be an integer >= 1"):
        forecast(_pipeline(), [[1.0, 2.0, 3.0]], horizon)  # type: ignore[arg-type]


def test_the_minimum_context_is_configurable() -> None:
    pipe = _pipeline()
    with pytest.raises(arkit.InputError, match="minimum context of 5"):
        forecast(pipe, [[1.0, 2.0, 3.0]], 2, min_context=5)
    with pytest.raises(arkit.ConfigError, match="names"):
        forecast(pipe, [[1.0, 2.0, 3.0]], 2, names=["a", "b"])
    assert forecast(pipe, [[1.0]], 2, min_context=1, num_samples=2, seed=0).samples.shape == (1, 2, 2)
