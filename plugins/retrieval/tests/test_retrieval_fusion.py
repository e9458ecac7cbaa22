"""The hybrid's fusions (weighted RRF, min-max) and the choice of fusion on a validation split."""

from __future__ import annotations

from hypothesis import given, strategies as st
import pytest

import arkit
from arkit_retrieval import FUSION_METHODS, choose_fusion, fuse

# Log-probabilities on a 1/8 grid: distinct values stay distinct after min-max normalisation (values a
# float rounding apart, such as 0 and 1e-54, would tie there, and no order could be asked of them).
_scores = st.integers(-400, 400).map(lambda x: x / 8)


@st.composite
def _candidates(draw: st.DrawFn) -> tuple[list[tuple[str, float]], list[float]]:
    n = draw(st.integers(1, 12))
    bm25 = sorted(draw(st.lists(st.floats(0, 30, allow_nan=False), min_size=n, max_size=n)), reverse=True)
    logp = draw(st.lists(_scores, min_size=n, max_size=n))
    return [(f"d{i}", s) for i, s in enumerate(bm25)], logp


@given(_candidates(), st.sampled_from(FUSION_METHODS), st.floats(0, 1))
def test_fusion_returns_a_permutation_of_the_candidates(case, method: str, weight: float) -> None:
    candidates, logp = case
    fused = fuse(candidates, logp, method=method, weight=weight)
    assert sorted(d for d, _ in fused) == sorted(d for d, _ in candidates)
    assert [s for _, s in fused] == sorted((s for _, s in fused), reverse=True)


@given(_candidates(), st.sampled_from(FUSION_METHODS))
def test_weight_zero_keeps_bm25_order_and_weight_one_follows_the_model(case, method: str) -> None:
    candidates, logp = case
    assert [d for d, _ in fuse(candidates, logp, method=method, weight=0.0)] == [d for d, _ in candidates]
    by_model = [candidates[i][0] for i in sorted(range(len(logp)), key=lambda i: -logp[i])]
    if method == "rrf" or len(set(logp)) == len(logp):  # min-max keeps the model's order up to exact ties
        assert [d for d, _ in fuse(candidates, logp, method=method, weight=1.0)] == by_model


def test_rrf_hand_computed() -> None:
    candidates = [("a", 3.0), ("b", 2.0), ("c", 1.0)]
    logp = [-5.0, -1.0, -3.0]  # the model ranks b, c, a
    fused = dict(fuse(candidates, logp, method="rrf", weight=0.25))
    assert fused["a"] == pytest.approx(0.75 / 61 + 0.25 / 63)
    assert fused["b"] == pytest.approx(0.75 / 62 + 0.25 / 61)
    assert fused["c"] == pytest.approx(0.75 / 63 + 0.25 / 62)
    mm = dict(fuse(candidates, logp, method="minmax", weight=0.5))
    assert mm == pytest.approx({"a": 0.5, "b": 0.25 + 0.5, "c": 0.0 + 0.25})


def test_the_choice_follows_the_validation_queries() -> None:
    # BM25 puts the gold second in every list; the model puts it first: any weight that lets the
    # model decide wins, and the earliest such grid entry is chosen.
    lists = [[("x", 2.0), ("gold", 1.0)]] * 5
    logps = [[-3.0, -0.1]] * 5
    choice = choose_fusion(lists, logps, ["gold"] * 5, methods=("rrf",), weights=(0.0, 0.25, 0.75, 1.0))
    assert (choice["method"], choice["weight"], choice["hits@1"]) == ("rrf", 0.75, 1.0)
    assert len(choice["grid"]) == 4 and choice["grid"][0]["hits@1"] == 0.0
    # When the model is wrong, BM25's order (weight 0) is kept.
    choice = choose_fusion([[("gold", 2.0), ("x", 1.0)]] * 5, logps, ["gold"] * 5)
    assert choice["hits@1"] == 1.0 and choice["weight"] == 0.0


def test_bad_fusion_arguments_are_named() -> None:
    with pytest.raises(arkit.ConfigError, match="unknown fusion method 'sum'"):
        fuse([("a", 1.0)], [0.0], method="sum")
    with pytest.raises(arkit.ConfigError, match="fusion weight must lie in"):
        fuse([("a", 1.0)], [0.0], weight=1.5)
    with pytest.raises(arkit.InputError, match="got 2 model scores for 1 BM25 candidates"):
        fuse([("a", 1.0)], [0.0, 1.0])
    with pytest.raises(arkit.InputError, match="no validation queries"):
        choose_fusion([], [], [])
