"""Hybrid retrieval: fuse BM25's candidate list with the generative model's scores, and pick the fusion on validation.

BM25 proposes ``rerank_depth`` candidates per query; the model scores each with its
constrained log-probability (:meth:`~arkit_retrieval.Retriever.score`). Two
standard fusions combine them, each with a weight ``w`` in ``[0, 1]`` on the model
(``1 - w`` on BM25):

- ``rrf``: weighted reciprocal-rank fusion (Cormack et al. 2009),
  ``(1 - w) / (k + rank_bm25) + w / (k + rank_model)`` with ``k = 60``;
- ``minmax``: a convex combination of the two scores after per-query min-max
  normalisation over the candidates (BM25 scores and model log-probabilities live
  on different scales; normalising puts both in ``[0, 1]``).

``w = 0`` gives BM25's order back (ties keep BM25's order). :func:`choose_fusion`
selects the method and weight that maximise the mean of Hits@1 and MRR@10 on a
*validation* split (never the reported one), earliest grid entry on ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arkit import ConfigError, InputError

from .metrics import hits_at, mrr_at

__all__ = ["FUSION_METHODS", "RRF_K", "choose_fusion", "fuse"]

FUSION_METHODS = ("rrf", "minmax")
RRF_K = 60  # the constant of reciprocal-rank fusion (Cormack et al. 2009)
_WEIGHTS = tuple(round(i / 20, 2) for i in range(21))  # 0.00, 0.05, ..., 1.00


def _minmax(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    if high - low <= 0:
        return [0.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def fuse(candidates: Sequence[tuple[str, float]], logp: Sequence[float], *, method: str = "rrf",
         weight: float = 0.5) -> list[tuple[str, float]]:
    """Rerank BM25's ``candidates`` (``(doc_id, bm25_score)``, best first) with the model's ``logp`` of each.

    Returns ``(doc_id, fused_score)`` best first; a permutation of the candidates.
    """
    if method not in FUSION_METHODS:
        raise ConfigError(f"unknown fusion method {method!r}; use one of {', '.join(FUSION_METHODS)}")
    if not 0.0 <= float(weight) <= 1.0:
        raise ConfigError(f"the fusion weight must lie in [0, 1] (the model's share), got {weight!r}")
    if len(candidates) != len(logp):
        raise InputError(f"got {len(logp)} model scores for {len(candidates)} BM25 candidates")
    if not candidates:
        return []
    w = float(weight)
    if method == "rrf":
        model_rank = sorted(range(len(logp)), key=lambda i: -logp[i])
        rank_of = {i: r for r, i in enumerate(model_rank)}
        fused = [(1 - w) / (RRF_K + i + 1) + w / (RRF_K + rank_of[i] + 1) for i in range(len(candidates))]
    else:
        lexical, model = _minmax([s for _, s in candidates]), _minmax(list(logp))
        fused = [(1 - w) * a + w * b for a, b in zip(lexical, model)]
    order = sorted(range(len(candidates)), key=lambda i: -fused[i])  # stable: ties keep BM25's order
    return [(candidates[i][0], fused[i]) for i in order]


def choose_fusion(candidate_lists: Sequence[Sequence[tuple[str, float]]], logps: Sequence[Sequence[float]],
                  gold: Sequence[str], *, methods: Sequence[str] = FUSION_METHODS,
                  weights: Sequence[float] = _WEIGHTS) -> dict[str, Any]:
    """Grid-search method x weight on a validation split; returns the choice, its scores and the whole grid.

    The criterion is the mean of Hits@1 and MRR@10 (the two numbers the hybrid is
    judged by); ties go to the earliest grid entry (methods in order, weights rising).
    """
    if not gold:
        raise InputError("no validation queries to choose the fusion on")
    if not (len(candidate_lists) == len(logps) == len(gold)):
        raise InputError(f"got {len(candidate_lists)} candidate lists, {len(logps)} score lists "
                         f"and {len(gold)} gold ids")
    grid = []
    best: dict[str, Any] | None = None
    for method in methods:
        for weight in weights:
            ranked = [fuse(c, lp, method=method, weight=weight) for c, lp in zip(candidate_lists, logps)]
            h1, mrr = hits_at(ranked, gold, 1), mrr_at(ranked, gold, 10)
            entry = {"method": method, "weight": weight, "hits@1": round(h1, 4), "mrr@10": round(mrr, 4)}
            grid.append(entry)
            if best is None or (h1 + mrr) / 2 > (best["hits@1"] + best["mrr@10"]) / 2 + 1e-12:
                best = {**entry, "hits@1": h1, "mrr@10": mrr}
    assert best is not None
    return {"method": best["method"], "weight": best["weight"], "queries": len(gold),
            "hits@1": round(best["hits@1"], 4), "mrr@10": round(best["mrr@10"], 4), "grid": grid}
