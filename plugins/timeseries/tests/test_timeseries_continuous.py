"""The continuous option: timeseries/patch + core/gaussian-mixture trains and forecasts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import arkit
from arkit_timeseries.continuous import forecast_continuous, patch_windows

torch.set_num_threads(1)


def _sines(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(96)
    return [rng.uniform(5, 50) + rng.uniform(1, 5) * np.sin(2 * np.pi * t / 16 + rng.uniform(0, 6))
            + rng.normal(0, 0.05, t.size) for _ in range(n)]


def test_patch_gmm_trains_and_forecasts_a_held_out_sine() -> None:
    torch.manual_seed(0)
    pipe = arkit.Pipeline.from_preset("timeseries/patch-gmm", backbone={"d_model": 64, "n_layers": 2},
                                      head={"d_model": 64})
    result = pipe.fit(patch_windows(pipe.tokenizer, _sines(64, 0)), steps=120, seq_len=12, batch_size=16, lr=3e-3,
                      warmup_steps=10, progress=False)
    assert result.losses[-1] < result.losses[0]
    held = _sines(3, 1)
    context, truth = [s[:80] for s in held], np.stack([s[80:] for s in held])
    out = forecast_continuous(pipe, context, 16, num_samples=16, seed=0)
    assert out.samples.shape == (3, 16, 16) and out.quantiles.shape == (3, 9, 16)
    assert np.all(np.diff(out.quantiles, axis=1) >= 0)
    flat = np.abs(np.stack([c[-16:].mean() for c in context])[:, None] - truth).mean()
    assert np.abs(out.median - truth).mean() < 0.7 * flat
    assert np.array_equal(forecast_continuous(pipe, context, 16, num_samples=16, seed=0).samples, out.samples)


def test_continuous_forecast_refuses_bad_input() -> None:
    pipe = arkit.Pipeline.from_preset("timeseries/patch-gmm", backbone={"d_model": 32, "n_layers": 1},
                                      head={"d_model": 32})
    with pytest.raises(arkit.ConfigError, match="horizon"):
        forecast_continuous(pipe, [np.arange(16.0)], 0)
    with pytest.raises(arkit.InputError, match="series 1 has fewer than 2 observed"):
        forecast_continuous(pipe, [np.arange(16.0), [np.nan] * 16], 4)
    with pytest.raises(arkit.InputError, match="series 0 has fewer than patch_length"):
        forecast_continuous(pipe, [np.arange(5.0)], 4)
