"""Retrieval metrics: Hits@k and MRR@10 over ranked lists, checked against the known ids."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from arkit import InputError

__all__ = ["hits_at", "mrr_at", "rank_of"]


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
