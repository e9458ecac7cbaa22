"""``arkit retrieval eval``: generative retrieval, BM25 and the hybrid on one split, with the issue's targets.

Queries (:func:`~arkit_retrieval.split_queries`, seed 0): *known-item* sentences
that were indexed (a seeded sample of ``known_limit``), *held-out* sentences never
trained on (the reported test set, all of them by default) and *validation*
sentences, also never trained on, used only to choose the hybrid's fusion. Rows:

- ``generative``: constrained beam search (``num_beams``) over the id trie;
- ``bm25``: ``bm25s`` over the indexed text of the same documents;
- ``hybrid``: BM25's top ``rerank_depth`` reranked by fusing BM25 with the model's
  constrained log-probabilities (:mod:`~arkit_retrieval.fusion`); the method and
  weight are chosen on the validation split (``fusion`` in the report);
- ``hybrid_rrf_untuned``: the same candidates fused by plain, equal-weight
  reciprocal-rank fusion (nothing tuned), for reference.

Also the valid-id rate with the constraint at several beam widths and without it
(greedy), queries per second, and optionally the constraint-cost and drafter benches.
"""

from __future__ import annotations

import random
import time
import warnings
from typing import Any

from .bm25 import BM25
from .corpus import split_queries, stdlib_docs
from .fusion import choose_fusion, fuse
from .metrics import hits_at, mrr_at, paired_comparison
from .retriever import QueryTruncatedWarning, Retriever

__all__ = ["evaluate", "hybrid_rerank", "targets"]


def _row(ranked: list, gold: list[str], known: set[str], seconds: float) -> dict[str, Any]:
    return {"queries": len(gold), "hits@1": round(hits_at(ranked, gold, 1, known), 4),
            "hits@10": round(hits_at(ranked, gold, 10, known), 4), "mrr@10": round(mrr_at(ranked, gold, 10, known), 4),
            "qps": round(len(gold) / seconds, 2) if seconds > 0 else None}


def _model_scores(retriever: Retriever, queries: list[str],
                  bm25_lists: list[list[tuple[str, float]]]) -> list[list[float]]:
    return [retriever.score(q, [d for d, _ in c]) for q, c in zip(queries, bm25_lists)]


def hybrid_rerank(retriever: Retriever, queries: list[str], bm25_lists: list[list[tuple[str, float]]], *,
                  method: str = "rrf", weight: float = 0.5) -> list[list[tuple[str, float]]]:
    """Rerank each BM25 list by fusing it with the model's constrained log-probabilities.

    ``method`` and ``weight`` as in :func:`~arkit_retrieval.fusion.fuse`.
    """
    logps = _model_scores(retriever, queries, bm25_lists)
    return [fuse(c, lp, method=method, weight=weight) for c, lp in zip(bm25_lists, logps)]


def evaluate(retriever: Retriever, **kwargs: Any) -> dict[str, Any]:
    """Every row and rate of the eval on the shipped docstring split; returns a JSON-ready dict.

    Queries longer than the model reads are cut (counted in ``corpus.truncated_queries``, not warned one by one).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QueryTruncatedWarning)
        return _evaluate(retriever, **kwargs)


def _evaluate(retriever: Retriever, *, known_limit: int | None = 1000, held_out_limit: int | None = None,
              validation_limit: int | None = None, num_beams: int = 10, rerank_depth: int = 100,
              valid_queries: int = 100, valid_beams: tuple[int, ...] = (1, 5, 10), seed: int = 0) -> dict[str, Any]:
    split = split_queries(stdlib_docs(), seed=0)
    known_ids = set(retriever.ids)
    rng = random.Random(seed)
    known = list(split.known_item)
    if known_limit is not None and known_limit < len(known):
        known = rng.sample(known, known_limit)
    held = list(split.held_out)[:held_out_limit]
    validation = list(split.validation)[:validation_limit]
    tok = retriever.pipeline.tokenizer
    out: dict[str, Any] = {"corpus": {"documents": len(split.indexed), "known_item_queries": len(known),
                                      "held_out_queries": len(held), "validation_queries": len(validation),
                                      "truncated_queries": sum(tok.text_length(q) > tok.max_text_tokens
                                                               for q, _ in known + held)}}
    bm25 = BM25().index(list(split.indexed))
    # The fusion is chosen on the validation split only; the held-out (reported) queries play no part in it.
    val_texts, val_gold = [q for q, _ in validation], [d for _, d in validation]
    val_lists = [r[:rerank_depth] for r in bm25.search(val_texts, k=rerank_depth)]
    choice = choose_fusion(val_lists, _model_scores(retriever, val_texts, val_lists), val_gold)
    choice["bm25_hits@1"] = round(hits_at(val_lists, val_gold, 1, known_ids), 4)
    choice["bm25_mrr@10"] = round(mrr_at(val_lists, val_gold, 10, known_ids), 4)
    out["fusion"] = {"selected_on": "validation", "criterion": "mean of Hits@1 and MRR@10", **choice}
    rows: dict[str, Any] = {}
    for name, queries in (("known_item", known), ("held_out", held)):
        texts, gold = [q for q, _ in queries], [d for _, d in queries]
        t = time.perf_counter()
        gen = retriever.search(texts, k=10, num_beams=num_beams)
        rows[f"generative/{name}"] = _row(gen, gold, known_ids, time.perf_counter() - t)
        t = time.perf_counter()
        lexical = bm25.search(texts, k=max(10, rerank_depth))
        bm25_s = time.perf_counter() - t
        rows[f"bm25/{name}"] = _row([r[:10] for r in lexical], gold, known_ids, bm25_s)
        if name == "held_out":
            lists = [r[:rerank_depth] for r in lexical]
            t = time.perf_counter()
            logps = _model_scores(retriever, texts, lists)
            score_s = time.perf_counter() - t
            t = time.perf_counter()
            hybrid = [fuse(c, lp, method=choice["method"], weight=choice["weight"]) for c, lp in zip(lists, logps)]
            rows[f"hybrid/{name}"] = _row(hybrid, gold, known_ids, time.perf_counter() - t + score_s + bm25_s)
            out["hybrid_vs_bm25_held_out"] = {"a": "hybrid", "b": "bm25",
                                              **paired_comparison(hybrid, lexical, gold, seed=seed)}
            t = time.perf_counter()
            plain = [fuse(c, lp, method="rrf", weight=0.5) for c, lp in zip(lists, logps)]
            rows[f"hybrid_rrf_untuned/{name}"] = _row(plain, gold, known_ids,
                                                      time.perf_counter() - t + score_s + bm25_s)
    out["rows"] = rows
    sample = [q for q, _ in held[:valid_queries]]
    valid: dict[str, Any] = {}
    for beams in valid_beams:
        ranked = retriever.search(sample, k=beams, num_beams=beams)
        valid[f"constrained/beams={beams}"] = sum(d is not None for r in ranked for d, _ in r) / sum(len(r) for r in ranked)
    ranked = retriever.search(sample, k=1, num_beams=1, constrained=False)
    valid["unconstrained/greedy"] = sum(d is not None for r in ranked for d, _ in r) / len(ranked)
    out["valid_id_rate"] = valid
    return out


def targets(report: dict[str, Any], scale: dict[str, Any] | None, drafter: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets in the core benchmarks' form (``name``, ``value``, ``target``, ``met``)."""
    rows, valid = report["rows"], report["valid_id_rate"]
    constrained = min(v for k, v in valid.items() if k.startswith("constrained/"))
    hyb, bm = rows["hybrid/held_out"], rows["bm25/held_out"]
    out = [
        {"name": "valid_id_rate_constrained_every_beam_width", "value": constrained, "target": ">= 1.0",
         "met": constrained >= 1.0},
        {"name": "known_item_hits@1", "value": rows["generative/known_item"]["hits@1"], "target": ">= 0.95",
         "met": rows["generative/known_item"]["hits@1"] >= 0.95},
        {"name": "held_out_hybrid_minus_bm25_hits@1", "value": round(hyb["hits@1"] - bm["hits@1"], 4), "target": "> 0",
         "met": hyb["hits@1"] > bm["hits@1"]},
        {"name": "held_out_hybrid_minus_bm25_mrr@10", "value": round(hyb["mrr@10"] - bm["mrr@10"], 4), "target": "> 0",
         "met": hyb["mrr@10"] > bm["mrr@10"]},
    ]
    if scale is not None:
        out.append({"name": "constraint_share_of_decode_step_138k_trie_batch8", "value": scale["constraint_share"],
                    "target": "< 0.2", "met": scale["constraint_share"] < 0.2})
    if drafter is not None:
        out.append({"name": "datastore_target_call_ratio", "value": drafter["target_call_ratio"], "target": ">= 1.5",
                    "met": drafter["target_call_ratio"] >= 1.5})
        out.append({"name": "datastore_lossless", "value": drafter["lossless"], "target": "true",
                    "met": bool(drafter["lossless"])})
    return out
