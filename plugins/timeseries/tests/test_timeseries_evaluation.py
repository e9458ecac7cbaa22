"""Evaluation, baselines, splits, the preset and the shipped checkpoint, the CLI, plots."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import arkit
import arkit.cli
from arkit_timeseries import baselines, forecast, metrics, pretrained, splits
from arkit_timeseries.evaluation import evaluate, format_table, model_forecaster
from arkit_timeseries.plot import plot_forecast
from arkit_timeseries.training import TrainingWindows

torch.set_num_threads(1)


def test_splits_hold_out_a_tail_by_frequency() -> None:
    by_name = {s.name: s for s in splits.splits()}
    assert by_name["co2"].horizon == 13 and by_name["airpassengers"].horizon == 18
    assert by_name["taylor"].horizon == 48 and by_name["nile"].horizon == 6 and by_name["austres"].horizon == 8
    s = by_name["airpassengers"]
    assert np.array_equal(np.concatenate([s.history, s.truth]), s.series.values)


@pytest.mark.parametrize("name", [pytest.param("arima", marks=pytest.mark.slow), "ets", "linear-ar"])
def test_baselines_give_monotone_quantiles_that_track_a_seasonal_series(name: str) -> None:
    t = np.arange(120)
    rng = np.random.default_rng(0)
    series = 10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.2, t.size)
    series[30] = np.nan  # gaps are interpolated
    q = baselines.BASELINES[name](series[:108], 12, 12)
    assert q.shape == (9, 12) and np.all(np.diff(q, axis=0) >= -1e-9)
    scores = metrics.relative_scores(series[:108], series[108:], q, 12)
    assert scores["relative_wql"] < 1.5  # no worse than a small margin over seasonal naive on a clean season


def test_linear_ar_recovers_a_known_ar2_process() -> None:
    rng = np.random.default_rng(1)
    y = np.zeros(2000)
    for i in range(2, len(y)):
        y[i] = 0.6 * y[i - 1] - 0.3 * y[i - 2] + rng.normal()
    q = baselines.linear_ar(y, 1, 1, max_context=2000)
    optimal = 0.6 * y[-1] - 0.3 * y[-2]
    assert abs(q[4, 0] - optimal) < 0.15  # the median is the optimal one-step predictor
    assert abs((q[8, 0] - q[0, 0]) / (2 * 1.2816) - 1.0) < 0.15  # the band has the noise's unit std


def test_training_windows_are_scaled_by_their_context_and_reproducible() -> None:
    real = [np.linspace(100, 200, 300)]
    a = TrainingWindows(real, real_share=1.0, max_length=64, seed=3)
    first = [w for w, _ in zip(a, range(5))]
    again = [w for w, _ in zip(a, range(5))]
    assert first == again and all(32 <= len(w) <= 64 for w in first)
    assert all(abs(np.mean(w)) < 3 for w in first)  # mean-std scaled, not the raw level of 100-200
    with pytest.raises(arkit.ConfigError, match="real_share"):
        TrainingWindows(real, real_share=2.0)


def test_the_shipped_checkpoint_is_the_preset_and_forecasts() -> None:
    pipe = pretrained()
    fresh = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    assert pipe.num_parameters == fresh.num_parameters
    with pytest.raises(arkit.ConfigError, match="no shipped checkpoint"):
        pretrained("nope")


def test_evaluate_scores_the_model_and_baselines_with_two_naive_periods_for_taylor() -> None:
    pipe = pretrained()
    chosen = splits.splits(["taylor", "nile"])
    result = evaluate({"model": model_forecaster(pipe, num_samples=4, context_length=256, batch=chosen)},
                      names=["taylor", "nile"], baselines=("linear-ar",))
    assert set(result["aggregate"]) == {"model", "linear-ar"}
    taylor = result["series"]["taylor"]
    assert set(taylor["naive"]) == {"48", "336"} and "336" in taylor["model"]["relative_to"]
    assert np.isfinite(taylor["model"]["relative_wql"])
    json.dumps(result)  # JSON-ready
    assert "geometric mean" in format_table(result)


def test_cli_eval_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert arkit.cli.main(["timeseries", "eval", "--json", "--series", "nile", "--baselines", "linear-ar",
                           "--samples", "4", "--no-plots"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["aggregate"]) == {"chronos-mini", "linear-ar"} and result["config"]["samples"] == 4
    assert arkit.cli.main(["timeseries", "eval", "--series", "nile", "--baselines", "prophet", "--no-plots"]) == 1
    assert "unknown baselines ['prophet']" in capsys.readouterr().err


def test_plot_is_written(tmp_path) -> None:
    q = np.tile(np.linspace(-1, 1, 9)[:, None], (1, 5))
    path = plot_forecast(tmp_path / "f.png", np.arange(20.0), np.zeros(5), q, metrics.QUANTILES, title="x")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(arkit.InputError, match="0.1"):
        plot_forecast(tmp_path / "g.png", np.arange(20.0), None, q[:1], (0.5,))


def test_ar_check_compares_with_the_optimal_predictor() -> None:
    from arkit_timeseries.archeck import ar_check, simulate_ar

    y = simulate_ar(1, 5000, (0.5, -0.2), seed=0)[0]
    design = np.stack([y[1:-1], y[:-2]], axis=1)
    phi, *_ = np.linalg.lstsq(design, y[2:], rcond=None)
    assert np.allclose(phi, (0.5, -0.2), atol=0.05)  # the simulator follows its coefficients
    result = ar_check(pretrained(), series=12, horizon=4, num_samples=8)
    assert result["linear-ar"]["gap"] < 0.1 and result["linear-ar"]["rmse_to_optimal"] < 0.4
    assert -0.3 < result["model"]["gap"] < 0.5  # the shipped model stays near the optimal predictor


@pytest.mark.slow
def test_the_onnx_export_forecasts_like_torch_under_greedy_decoding(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from arkit.onnx import OrtPipeline, export

    pipe = pretrained()
    export(pipe, tmp_path / "onnx")
    ort = OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1)
    greedy = arkit.create("sampler", "core/greedy")
    chosen = splits.splits(["nile", "airpassengers", "taylor"])
    for s in chosen:
        a = forecast(pipe.replace(sampler=greedy), [s.history], s.horizon, num_samples=1, context_length=200)
        b = forecast(ort.replace(sampler=greedy), [s.history], s.horizon, num_samples=1, context_length=200)
        assert np.array_equal(a.samples, b.samples), s.name
    sampled = forecast(ort, [chosen[0].history], 6, num_samples=4, seed=0)  # sampling works through ORT too
    assert sampled.samples.shape == (1, 4, 6) and np.isfinite(sampled.samples).all()


@pytest.mark.slow
def test_the_demo_trains_prints_the_table_and_writes_a_plot_per_series(tmp_path, capsys) -> None:
    assert arkit.cli.main(["timeseries", "demo", "--steps", "3", "--samples", "2", "--out", str(tmp_path)]) == 0
    assert "geometric mean" in capsys.readouterr().out
    assert len(list(tmp_path.glob("*.png"))) == len(splits.splits())
