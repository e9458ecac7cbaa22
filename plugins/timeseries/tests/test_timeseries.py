"""arkit-timeseries: tokenizers (hypothesis), bundled data, synthetic series, metrics."""

from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch

import arkit
from arkit.testing import TokenizerContract
from arkit_timeseries import MeanScaleBinsTokenizer, PatchTokenizer, Scale, datasets, metrics
from arkit_timeseries.synthetic import kernel_synth

torch.set_num_threads(1)

finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False) | st.floats(min_value=-1e-9, max_value=1e-9)
with_nan = finite | st.just(math.nan)
series = st.lists(with_nan, max_size=40) | st.builds(lambda v, n: [v] * n, finite, st.integers(1, 20))


# -- contracts with invalid items (the registry-wide suite runs the rest) ------------------
class TestBinsContract(TokenizerContract):
    component = "timeseries/mean-scale-bins"
    config = {"bins": 100, "scaling": "mean-std"}
    items = st.lists(with_nan, max_size=20)
    invalid_items = st.sampled_from(["abc", [[1.0, 2.0]], [1.0, math.inf], [object()]])


class TestPatchContract(TokenizerContract):
    component = "timeseries/patch"
    config = {"patch_length": 3}
    items = st.integers(0, 5).flatmap(lambda n: st.lists(finite, min_size=3 * n, max_size=3 * n))
    invalid_items = st.sampled_from([[1.0, 2.0], [1.0, math.nan, 2.0], "abc", [[1.0, 2.0, 3.0]]])


# -- the bins tokenizer -----------------------------------------------------------------
@pytest.mark.parametrize("scaling", ["mean", "mean-std"])
@pytest.mark.parametrize("bins", [7, 4094])
@settings(max_examples=150)
@given(values=series)
def test_inverse_is_exact_up_to_half_a_bin_times_the_scale(values: list[float], scaling: str, bins: int) -> None:
    tok = MeanScaleBinsTokenizer(bins=bins, scaling=scaling)
    ids, scale = tok.encode_with_scale(values)
    assert all(tok.N_SPECIAL <= i < tok.vocab_size or i == tok.missing_id for i in ids)
    decoded = tok.decode(ids, scale=scale)
    assert len(decoded) == len(values)
    for x, y in zip(values, decoded):
        if math.isnan(x):
            assert math.isnan(y)
            continue
        scaled = (x - scale.loc) / scale.scale
        if tok.low <= scaled <= tok.high:
            bound = tok.width / 2 * scale.scale
            assert abs(y - x) <= bound * (1 + 1e-9) + 1e-12 * max(abs(x), abs(scale.loc)), (x, y, scale)
    assert np.array_equal(tok.decode_array(ids, scale=scale), np.asarray(decoded), equal_nan=True)


def test_layout_scale_and_plain_calls() -> None:
    tok = MeanScaleBinsTokenizer(bins=10, low=-5.0, high=5.0)
    assert tok.vocab_size == 13 and tok.special_tokens == {"pad": 0, "eos": 1} and tok.missing_id == 2
    ids, scale = tok.encode_with_scale([2.0, -4.0, math.nan, 6.0])
    assert scale == Scale(0.0, 4.0)  # mean |x| over observed values
    assert ids == [3 + 5, 3 + 4, 2, 3 + 6]  # 0.5 -> bin [0,1), -1 -> [-1,0), 1.5 -> [1,2)
    assert tok.decode(ids, scale=scale)[:2] == [2.0, -2.0] and math.isnan(tok.decode(ids, scale=scale)[2])
    assert tok.encode([0.5, 100.0, -100.0]) == [8, 12, 3]  # plain encode: identity scale, clipped at the limits
    assert tok.decode([0, 8, 1]) == [0.5]  # pad/eos skipped
    # the scale comes from the context only
    _, s = tok.encode_with_scale([1.0, 1.0, 100.0], context_length=2)
    assert s == Scale(0.0, 1.0)
    assert MeanScaleBinsTokenizer().encode_with_scale([0.0, 0.0])[1] == Scale()  # all zero: scale 1
    assert MeanScaleBinsTokenizer().encode_with_scale([math.nan])[1] == Scale()


def test_mean_std_keeps_the_seasonal_shape_of_co2() -> None:
    co2 = datasets.load("co2").values[-520:]
    mean = MeanScaleBinsTokenizer(scaling="mean")
    affine = MeanScaleBinsTokenizer(scaling="mean-std")
    last_year = slice(-52, None)
    distinct_mean = len(set(mean.encode_with_scale(co2)[0][last_year]))
    distinct_affine = len(set(affine.encode_with_scale(co2)[0][last_year]))
    assert distinct_mean < 20 < distinct_affine


@pytest.mark.parametrize("bad", [{"bins": 0}, {"bins": 2.5}, {"low": 1.0, "high": 1.0}, {"high": math.inf},
                                 {"scaling": "max"}])
def test_bins_rejects_bad_configs(bad: dict[str, object]) -> None:
    with pytest.raises(arkit.ConfigError):
        MeanScaleBinsTokenizer(**bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("scale", ["x", (1.0, 0.0), -1.0, (0.0, math.nan)])
def test_bad_scales_are_input_errors(scale: object) -> None:
    with pytest.raises(arkit.InputError):
        MeanScaleBinsTokenizer().decode([5], scale=scale)


# -- the patch tokenizer ----------------------------------------------------------------
@given(values=st.integers(0, 6).flatmap(lambda n: st.lists(finite, min_size=4 * n, max_size=4 * n)),
       scaling=st.sampled_from(["mean", "mean-std"]))
def test_patches_round_trip_with_their_scale(values: list[float], scaling: str) -> None:
    tok = PatchTokenizer(patch_length=4, scaling=scaling)
    patches, scale = tok.encode_with_scale(values)
    assert all(len(p) == 4 for p in patches) and len(patches) == len(values) // 4
    assert np.allclose(tok.decode(patches, scale=scale), values, rtol=1e-9, atol=1e-9 * scale.scale)
    assert tok.decode(tok.encode(values)) == values


def test_patch_trim_and_errors() -> None:
    tok = PatchTokenizer(patch_length=3)
    assert tok.trim(range(7)).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    with pytest.raises(arkit.InputError, match="drop the oldest 1"):
        tok.encode(range(7))
    with pytest.raises(arkit.ConfigError):
        PatchTokenizer(patch_length=0)


# -- data -------------------------------------------------------------------------------
def test_every_bundled_series_loads_offline() -> None:
    names = datasets.list_datasets()
    assert {"co2", "sunspots", "nile", "elnino", "macrodata/realgdp", "taylor", "airpassengers", "wineind",
            "lynx"} <= set(names)
    for name in names:
        s = datasets.load(name)
        assert s.name == name and s.values.dtype == np.float64 and s.values.ndim == 1 and len(s) >= 50
        assert s.season_length == s.seasonalities[0] >= 1
    assert len(datasets.load("elnino")) == 61 * 12 and datasets.load("elnino").values[0] == 23.11
    assert datasets.load("taylor").seasonalities == (48, 336)
    assert np.isnan(datasets.load("co2").values).any()


def test_unknown_dataset_names_close_matches() -> None:
    with pytest.raises(arkit.ArkitError, match="did you mean co2"):
        datasets.load("co3")


# -- synthetic --------------------------------------------------------------------------
def test_kernel_synth_is_seeded_and_prefix_stable() -> None:
    a = kernel_synth(6, 128, seed=3)
    assert a.shape == (6, 128) and np.isfinite(a).all()
    assert np.array_equal(a, kernel_synth(6, 128, seed=3))
    assert np.array_equal(a[:2], kernel_synth(2, 128, seed=3))
    assert not np.array_equal(a, kernel_synth(6, 128, seed=4))
    assert len({round(float(np.std(row)), 6) for row in a}) == 6  # distinct series
    assert kernel_synth(0, 5).shape == (0, 5) and kernel_synth(2, 1).shape == (2, 1)
    with pytest.raises(arkit.ConfigError):
        kernel_synth(-1, 10)


# -- metrics ----------------------------------------------------------------------------
def test_seasonal_naive_repeats_the_last_season() -> None:
    assert metrics.seasonal_naive([1, 2, 3, 4, 5], 5, 2).tolist() == [4, 5, 4, 5, 4]
    assert metrics.seasonal_naive([1, 2, math.nan], 2, 1).tolist() == [2, 2]  # forward filled
    assert metrics.seasonal_naive([1, 2], 3, 4).tolist() == [2, 2, 2]  # too short: m = 1
    with pytest.raises(arkit.InputError):
        metrics.seasonal_naive([1.0], 0)


def test_mase_by_hand() -> None:
    history = [1.0, 3.0, 2.0, 5.0]  # seasonal (m=2) differences: |2-1|, |5-3| -> scale 1.5
    assert metrics.mase([4.0, 6.0], [3.0, 3.0], history, 2) == pytest.approx((1 + 3) / 2 / 1.5)
    assert metrics.mase([4.0, math.nan], [3.0, 0.0], history, 2) == pytest.approx(1 / 1.5)
    assert math.isnan(metrics.mase([1.0], [1.0], [2.0, 2.0, 2.0], 1))  # constant history: no scale


def test_wql_by_hand() -> None:
    q = (0.1, 0.5, 0.9)
    truth = [2.0, 4.0]
    forecast = [[1.0, 1.0], [2.0, 3.0], [3.0, 5.0]]
    # q=0.1: errors 1, 3 -> 0.1+0.3 = 0.4; q=0.5: 0, 1 -> 0.5; q=0.9: -1, -1 -> 0.1+0.1 = 0.2
    expected = np.mean([2 * 0.4 / 6, 2 * 0.5 / 6, 2 * 0.2 / 6])
    assert metrics.wql(truth, forecast, q) == pytest.approx(expected)
    # a point forecast: WQL = sum|y - f| / sum|y| (the pinball losses at q and 1 - q add up to |e|)
    point = np.tile([3.0, 3.0], (9, 1))
    assert metrics.wql(truth, point) == pytest.approx(2 / 6)
    with pytest.raises(arkit.InputError):
        metrics.wql(truth, [[1.0, 2.0]])


def test_relative_scores_and_geometric_mean_by_hand() -> None:
    history = [1.0, 3.0, 2.0, 5.0]
    truth = [2.0, 6.0]  # naive (m=2): [2, 5] -> abs errors 0, 1
    perfect_but_one = np.tile([2.0, 5.5], (9, 1))  # abs errors 0, 0.5
    s = metrics.relative_scores(history, truth, perfect_but_one, 2)
    assert s["naive_mase"] == pytest.approx(0.5 / 1.5) and s["mase"] == pytest.approx(0.25 / 1.5)
    assert s["relative_mase"] == pytest.approx(0.5) and s["relative_wql"] == pytest.approx(0.5)
    rows = {"a": {"relative_mase": 0.5, "relative_wql": 2.0}, "b": {"relative_mase": 2.0, "relative_wql": 2.0},
            "c": {"relative_mase": 4.0, "relative_wql": 0.25}}
    agg = metrics.aggregate(rows)
    assert agg["relative_mase"] == pytest.approx(4 ** (1 / 3) * 0.5 ** (1 / 3) * 2 ** (1 / 3) / 1)  # (0.5*2*4)^(1/3)
    assert agg["relative_wql"] == pytest.approx(1.0) and agg["series"] == 3
    assert math.isnan(metrics.geometric_mean([]))


def test_the_plugin_is_listed() -> None:
    info = next((p for p in arkit.list_plugins() if p.name == "timeseries"), None)
    assert info is not None and info.error is None and info.distribution == "arkit-timeseries"
    assert {"tokenizer:timeseries/mean-scale-bins", "tokenizer:timeseries/patch"} <= set(info.components)
