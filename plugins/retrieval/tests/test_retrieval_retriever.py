"""The retriever: index then search, scores equal beam log-probabilities, bad input, saving, CLI, ONNX parity."""

from __future__ import annotations

import json
from pathlib import Path
import warnings

import pytest

import arkit
import arkit.cli
from arkit_retrieval import QueryTruncatedWarning, Retriever, split_queries


def test_search_returns_ranked_existing_ids_scored_by_beam_log_probability(tiny_retriever: Retriever, small_docs) -> None:
    known = split_queries(small_docs, seed=0).known_item
    queries = [q for q, _ in known[:6]]
    results = tiny_retriever.search(queries, k=3)
    ids = set(tiny_retriever.ids)
    for ranked in results:
        assert len(ranked) == 3 and all(d in ids for d, _ in ranked)
        assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    # the beam score is the constrained log-probability of the id, computed again teacher-forced
    for q, ranked in zip(queries, results):
        scores = tiny_retriever.score(q, [d for d, _ in ranked])
        assert scores == pytest.approx([s for _, s in ranked], abs=1e-4)


def test_the_tiny_model_memorised_most_known_items(tiny_retriever: Retriever, small_docs) -> None:
    known = split_queries(small_docs, seed=0).known_item
    results = tiny_retriever.search([q for q, _ in known], k=1)
    hits = sum(r[0][0] == gold for r, (_, gold) in zip(results, known))
    # 24 documents, 150 steps: far above chance (1/24) for a model that learned the mapping
    assert hits / len(known) >= 0.5, hits


def test_long_queries_are_cut_with_a_warning_and_bad_queries_raise(tiny_retriever: Retriever) -> None:
    with pytest.warns(QueryTruncatedWarning, match="1 of 1 queries .* the model reads the first 32"):
        tiny_retriever.search(["word " * 100], k=1)
    with pytest.raises(arkit.InputError, match="query 1 is empty"):
        tiny_retriever.search(["fine", "  "], k=1)
    with pytest.raises(arkit.InputError, match="unknown document id 'not.a.doc'"):
        tiny_retriever.score("fine", ["not.a.doc"])


def test_unconstrained_search_reports_invalid_ids_as_none(tiny_retriever: Retriever) -> None:
    ranked = tiny_retriever.search(["a query"], k=2, constrained=False)[0]
    ids = set(tiny_retriever.ids)
    assert all(d is None or d in ids for d, _ in ranked)


def test_saved_retriever_searches_the_same_and_the_cli_reads_it(tiny_retriever: Retriever, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = tiny_retriever.save_pretrained(tmp_path / "r")
    again = Retriever.from_pretrained(folder, num_beams=4)
    q = ["Return a new instance"]
    assert again.search(q, k=3) == tiny_retriever.search(q, k=3)
    assert arkit.cli.main(["retrieval", "search", str(folder), q[0], "-k", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["doc_id"] for r in out[0]["results"]] == [d for d, _ in tiny_retriever.search(q, k=3)[0]]
    assert arkit.cli.main(["retrieval", "search", str(tmp_path / "missing"), "q"]) == 2


def test_onnx_search_returns_the_same_ids_as_torch(tiny_retriever: Retriever, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from arkit import onnx

    onnx.export(tiny_retriever.pipeline, tmp_path / "onnx")
    ort = Retriever(onnx.OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1), num_beams=4)
    queries = ["Return a new instance", "the number of items", "Compile a pattern"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = tiny_retriever.search(queries, k=3), ort.search(queries, k=3)
    assert [[d for d, _ in r] for r in a] == [[d for d, _ in r] for r in b]
    for ra, rb in zip(a, b):
        assert [s for _, s in ra] == pytest.approx([s for _, s in rb], abs=1e-3)
