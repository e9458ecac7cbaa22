"""The zero-shot split, the trend-aware scaling, floors for counts, the seasonal baselines, targets and plots."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import safetensors
import torch

import arkit
import arkit.cli
from arkit_timeseries import baselines, forecast, metrics, pretrained, splits
from arkit_timeseries.evaluation import evaluate, model_forecaster, targets
from arkit_timeseries.presets import CHECKPOINTS
from arkit_timeseries.scaling import fit_trend, trend_line
from arkit_timeseries.training import TrainingWindows

torch.set_num_threads(1)


def test_the_zero_shot_group_is_disjoint_from_the_in_domain_one() -> None:
    names = [s.name for s in splits.splits()]
    assert set(splits.in_domain()).isdisjoint(splits.ZERO_SHOT)
    assert sorted([*splits.in_domain(), *splits.ZERO_SHOT]) == sorted(names)
    assert {splits.group_of(n) for n in splits.ZERO_SHOT} == {"zero-shot"} and splits.group_of("co2") == "in-domain"


def test_the_shipped_checkpoint_never_saw_the_zero_shot_group_and_is_small_float16() -> None:
    folder = CHECKPOINTS / "chronos-mini"
    record = json.loads((folder / "training.json").read_text())
    assert record["data"]["never_seen"] == list(splits.ZERO_SHOT)
    assert not any(name in record["data"]["real"] for name in splits.ZERO_SHOT)
    total = 0
    for weights in folder.glob("*/model.safetensors"):
        total += weights.stat().st_size
        with safetensors.safe_open(str(weights), framework="pt") as f:
            assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float16}, weights
    assert total <= 10 * 2**20
    log = [json.loads(line) for line in (folder / "training-log.jsonl").read_text().splitlines()]
    assert log and log[-1]["step"] <= record["step"] and all(math.isfinite(row["loss"]) for row in log)
    assert next(pretrained().backbone.parameters()).dtype == torch.float32  # loaded as float32 for CPU


@settings(max_examples=50, deadline=None)
@given(st.floats(-1e3, 1e3), st.floats(-50, 50), st.integers(3, 200), st.sets(st.integers(0, 199), max_size=20))
def test_fit_trend_recovers_a_line_through_gaps(intercept: float, slope: float, n: int, gaps: set[int]) -> None:
    values = intercept + slope * np.arange(n, dtype=np.float64)
    values[[g for g in gaps if g < n - 2]] = np.nan  # keep at least two observed values
    a, b = fit_trend(values)
    scale = 1.0 + abs(intercept) + abs(slope) * n
    assert abs(a - intercept) <= 1e-9 * scale and abs(b - slope) <= 1e-9 * scale
    assert np.allclose(trend_line((a, b), n, 3), intercept + slope * np.arange(n, n + 3), atol=1e-8 * scale)


def test_fit_trend_degenerate_inputs() -> None:
    assert fit_trend(np.array([np.nan, np.nan])) == (0.0, 0.0)
    assert fit_trend(np.array([np.nan, 5.0])) == (5.0, 0.0)


@settings(max_examples=8, deadline=None)
@given(st.floats(-500, 500), st.floats(-20, 20).filter(lambda b: abs(b) > 0.01))
def test_a_straight_line_is_continued_under_the_trend_aware_scaling(intercept: float, slope: float) -> None:
    pipe = pretrained()
    line = intercept + slope * np.arange(60, dtype=np.float64)
    out = forecast(pipe, [line[:50]], 10, num_samples=2, seed=0, detrend=True)
    assert np.allclose(out.samples[0], line[50:][None, :], atol=1e-6 * (1 + abs(intercept) + abs(slope) * 60))


def test_training_windows_detrend_their_share() -> None:
    noisy_line = [np.linspace(0.0, 1000.0, 400) + np.random.default_rng(0).normal(0, 5, 400)]

    def windows(share: float) -> list[np.ndarray]:
        data = TrainingWindows(noisy_line, real_share=1.0, min_length=48, max_length=64, seed=1, detrend_share=share)
        return [np.asarray(w) for w, _ in zip(data, range(20))]

    def trend(w: np.ndarray) -> float:
        return abs(float(np.corrcoef(np.arange(len(w)), w)[0, 1]))

    assert all(trend(w) > 0.9 for w in windows(0.0))  # mean-std scaling keeps the line
    assert all(trend(w) < 0.6 for w in windows(1.0))  # detrended: the noise is left
    with pytest.raises(arkit.ConfigError, match="detrend_share"):
        TrainingWindows(noisy_line, detrend_share=1.5)


@settings(max_examples=10, deadline=None)
@given(st.floats(0.0, 5.0), st.integers(0, 1000))
def test_floored_forecasts_never_go_below_the_floor(level: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    counts = np.maximum(level + rng.normal(0, 3, 80), 0.0)  # mostly zeros and small counts
    out = forecast(pretrained(), [counts, counts - 10], 8, num_samples=8, seed=seed, lower=[0.0, None], detrend=True)
    assert out.samples[0].min() >= 0.0 and out.quantiles[0].min() >= 0.0


def test_forecasts_are_values_only_never_specials() -> None:
    chosen = splits.splits(["taylor", "co2", "lynx"])
    out = forecast(pretrained(), [s.history for s in chosen], 12, num_samples=6, seed=0, context_length=200)
    assert np.isfinite(out.samples).all()  # pad, eos and missing would decode to the lowest bin or NaN


@pytest.mark.parametrize("lower", ["zero", [0.0], float("nan"), True])
def test_bad_floors_are_config_errors(lower: object) -> None:
    with pytest.raises(arkit.ConfigError, match="lower"):
        forecast(pretrained(), [np.arange(20.0), np.arange(20.0)], 3, num_samples=1, lower=lower)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 12), st.integers(1, 30), st.integers(0, 10_000))
def test_seasonal_naive_baseline_is_naive_at_the_median_with_widening_bands(m: int, horizon: int, seed: int) -> None:
    y = np.random.default_rng(seed).normal(0, 1, 60).cumsum()
    q = baselines.seasonal_naive(y, horizon, m)
    assert q.shape == (9, horizon) and np.all(np.diff(q, axis=0) >= -1e-9)
    assert np.allclose(q[4], metrics.seasonal_naive(y, horizon, m))
    width = q[8] - q[0]
    assert np.all(np.diff(width) >= -1e-9)  # each season ahead is at least as uncertain as the one before
    if horizon > m:
        assert width[m] == pytest.approx(width[0] * math.sqrt(2))


def test_seasonal_arima_finds_a_quarterly_season_and_trend() -> None:
    t = np.arange(100)
    y = 50 + 0.5 * t + 6 * np.tile([1.0, -2.0, 3.0, -2.0], 25) + np.random.default_rng(0).normal(0, 0.5, 100)
    q = baselines.seasonal_arima(y[:92], 8, 4)
    assert q.shape == (9, 8) and np.all(np.diff(q, axis=0) >= -1e-9)
    scores = metrics.relative_scores(y[:92], y[92:], q, 4)
    assert scores["relative_mase"] < 0.5  # the trend that seasonal naive misses


def test_evaluate_reports_groups_targets_and_floors_counts() -> None:
    negative = lambda s: np.full((9, s.horizon), -5.0)  # noqa: E731 - a forecaster that is always below zero
    result = evaluate({"model": negative}, names=["nile", "lynx"], baselines=("seasonal-naive",))
    assert set(result["groups"]) == {"in-domain", "zero-shot"}
    lynx = splits.split(splits.datasets.load("lynx"))
    assert result["series"]["lynx"]["model"]["wql"] == pytest.approx(metrics.wql(lynx.truth, np.zeros((9, 6))))
    found = targets(result, "model")
    assert [t["name"].split(" of ")[0] for t in found] == ["in-domain WQL", "in-domain MASE", "zero-shot WQL",
                                                          "zero-shot MASE"]
    assert all(t["met"] == (t["value"] < t["target"]) for t in found)
    assert found[1]["target"] == 1.0 and not found[1]["met"]  # a zero forecast has MASE far above naive's 1


def test_targets_hold_when_the_model_is_better_and_skip_missing_baselines() -> None:
    row = {"relative_mase": 0.5, "relative_wql": 0.4, "series": 3.0}
    worse = {"relative_mase": 0.9, "relative_wql": 0.8, "series": 3.0}
    result = {"groups": {"in-domain": {"m": row, "seasonal-naive": worse, "seasonal-arima": worse},
                         "zero-shot": {"m": worse, "seasonal-naive": row}}}
    found = {t["name"]: t["met"] for t in targets(result, "m")}
    assert len(found) == 6 and found["in-domain WQL of m below seasonal-arima"]
    assert not found["zero-shot MASE of m below seasonal-naive"]
    assert targets({"groups": {"in-domain": {"m": row}}}, "m") == []


def test_cli_eval_prints_targets_and_writes_plots(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert arkit.cli.main(["timeseries", "eval", "--json", "--series", "nile", "lynx", "--baselines", "seasonal-naive",
                           "--samples", "4", "--plots", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["config"]["detrend"] and len(result["targets"]) == 4
    assert result["met"] == all(t["met"] for t in result["targets"])
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["in-domain.png", "lynx.png", "nile.png", "zero-shot.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in tmp_path.glob("*.png"))
    assert arkit.cli.main(["timeseries", "eval", "--series", "nile", "--pipeline", "x", "--train-steps", "2"]) == 1
    assert "not both" in capsys.readouterr().err


def test_model_forecaster_floors_nonnegative_series() -> None:
    chosen = splits.splits(["lynx"])
    run = model_forecaster(pretrained(), num_samples=8, context_length=64, batch=chosen)
    assert run(chosen[0]).min() >= 0.0
