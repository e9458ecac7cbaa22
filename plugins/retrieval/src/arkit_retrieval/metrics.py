"""Retrieval metrics: Hits@k and MRR@10 over ranked lists, checked against the known ids."""

from __future__ import annotations

from collections.abc import Collection, Sequence
import math
import random

from arkit import InputError

__all__ = ["hits_at", "mrr_at", "paired_comparison", "rank_of"]


def _check(ranked: Sequence[Sequence[tuple[str | None, float]]], gold: Sequence[str], known: Collection[str] | None) -> None:
    if len(ranked) != len(gold):
        raise InputError(f"got {len(ranked)} ranked lists for {len(gold)} gold ids")
    if not gold:
        raise InputError("no queries to evaluate")
    if known is not None:
        for i, g in enumerate(gold):
            if g not in known:
                raise InputError(f"gold id {g!r} of query {i} is not a document of the corpus")


def rank_of(ranking: Sequence[tuple[str | None, float]], gold: str) -> int | None:
    """1-based rank of ``gold`` in ``ranking``, or ``None``."""
    for i, (doc_id, _) in enumerate(ranking):
        if doc_id == gold:
            return i + 1
    return None


def hits_at(ranked: Sequence[Sequence[tuple[str | None, float]]], gold: Sequence[str], k: int,
            known: Collection[str] | None = None) -> float:
    """Share of queries whose gold id is among the first ``k`` results."""
    _check(ranked, gold, known)
    return sum(1 for r, g in zip(ranked, gold) if (rank_of(r[:k], g) is not None)) / len(gold)


def mrr_at(ranked: Sequence[Sequence[tuple[str | None, float]]], gold: Sequence[str], k: int = 10,
           known: Collection[str] | None = None) -> float:
    """Mean reciprocal rank of the gold id, counting only the first ``k`` results."""
    _check(ranked, gold, known)
    total = 0.0
    for r, g in zip(ranked, gold):
        rank = rank_of(r[:k], g)
        total += 1.0 / rank if rank is not None else 0.0
    return total / len(gold)


def paired_comparison(ranked_a: Sequence[Sequence[tuple[str | None, float]]],
                      ranked_b: Sequence[Sequence[tuple[str | None, float]]], gold: Sequence[str], *, k: int = 10,
                      resamples: int = 2000, seed: int = 0) -> dict[str, float | int | list[float]]:
    """Is system A better than system B on the same queries? Paired statistics of Hits@1 and MRR@``k``.

    ``a_only_hits@1`` / ``b_only_hits@1``: queries only one system ranks first; ``mcnemar_p``:
    the exact two-sided McNemar (sign) test on those; ``mrr_gain``: mean of A's minus B's
    reciprocal rank, with a percentile bootstrap 95 % interval over queries (``resamples``, ``seed``).
    """
    _check(ranked_a, gold, None)
    _check(ranked_b, gold, None)

    def rr(ranking: Sequence[tuple[str | None, float]], g: str) -> float:
        rank = rank_of(ranking[:k], g)
        return 1.0 / rank if rank is not None else 0.0

    a_only = sum(1 for a, b, g in zip(ranked_a, ranked_b, gold) if rank_of(a[:1], g) and not rank_of(b[:1], g))
    b_only = sum(1 for a, b, g in zip(ranked_a, ranked_b, gold) if rank_of(b[:1], g) and not rank_of(a[:1], g))
    n = a_only + b_only
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(min(a_only, b_only) + 1)) / 2**n) if n else 1.0
    gains = [rr(a, g) - rr(b, g) for a, b, g in zip(ranked_a, ranked_b, gold)]
    rng = random.Random(seed)
    means = sorted(sum(gains[rng.randrange(len(gains))] for _ in gains) / len(gains) for _ in range(resamples))
    low, high = means[int(0.025 * resamples)], means[min(resamples - 1, int(0.975 * resamples))]
    return {"a_only_hits@1": a_only, "b_only_hits@1": b_only, "mcnemar_p": round(p, 4),
            "mrr_gain": round(sum(gains) / len(gains), 4), "mrr_gain_95": [round(low, 4), round(high, 4)]}
