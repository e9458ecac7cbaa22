"""BM25 against a hand-computed case, and the metrics."""

from __future__ import annotations

import math

import pytest

import arkit
from arkit_retrieval import BM25, Document, hits_at, mrr_at, paired_comparison


def test_bm25_matches_the_formula_on_a_tiny_corpus() -> None:
    docs = [Document("a", "apple banana apple"), Document("b", "banana cherry"), Document("c", "cherry durian fig")]
    ranked = BM25(stopwords=None).index(docs).search(["apple cherry"], k=3)[0]
    k1, b, N = 1.5, 0.75, 3
    lengths = {"a": 3, "b": 2, "c": 3}
    avgdl = sum(lengths.values()) / N

    def idf(df: int) -> float:
        return math.log(1 + (N - df + 0.5) / (df + 0.5))

    def part(tf: int, dl: int) -> float:
        return tf / (tf + k1 * (1 - b + b * dl / avgdl))  # Lucene leaves out the (k1 + 1) factor

    expected = {"a": idf(1) * part(2, 3), "b": idf(2) * part(1, 2), "c": idf(2) * part(1, 3)}
    assert [d for d, _ in ranked] == sorted(expected, key=lambda d: -expected[d])
    for d, s in ranked:
        assert s == pytest.approx(expected[d], rel=1e-5)


def test_metrics_hand_computed() -> None:
    ranked = [[("x", 1.0), ("y", 0.5)], [("y", 1.0), ("x", 0.5)], [(None, 1.0), ("z", 0.1)]]
    gold = ["x", "x", "q"]
    assert hits_at(ranked, gold, 1) == pytest.approx(1 / 3)
    assert hits_at(ranked, gold, 2) == pytest.approx(2 / 3)
    assert mrr_at(ranked, gold) == pytest.approx((1 + 0.5 + 0) / 3)


def test_unknown_gold_id_is_named() -> None:
    with pytest.raises(arkit.InputError, match="gold id 'nope' of query 0"):
        hits_at([[("x", 1.0)]], ["nope"], 1, known={"x"})


def test_paired_comparison_hand_computed() -> None:
    a = [[("x", 1.0)], [("x", 1.0)], [("y", 1.0), ("x", 0.5)], [("x", 1.0)]]
    b = [[("y", 1.0), ("x", 0.5)], [("x", 1.0)], [("x", 1.0)], [("y", 1.0)]]
    out = paired_comparison(a, b, ["x"] * 4, resamples=200)
    assert (out["a_only_hits@1"], out["b_only_hits@1"]) == (2, 1)
    assert out["mcnemar_p"] == 1.0  # 2 vs 1 discordant: 2 * P(X <= 1 | n=3) = 2 * 4/8, capped at 1
    assert out["mrr_gain"] == pytest.approx(((1 - 0.5) + 0 + (0.5 - 1) + 1) / 4)
    low, high = out["mrr_gain_95"]
    assert -1 <= low <= out["mrr_gain"] <= high <= 1
    lopsided = paired_comparison([[("x", 1.0)]] * 12, [[("y", 1.0)]] * 12, ["x"] * 12, resamples=50)
    assert lopsided["mcnemar_p"] == pytest.approx(2 / 2**12, abs=1e-4)
