"""``arkit bench speculative --quick``: the smoke test of the speculative-decoding benchmark."""

from __future__ import annotations

import json
from typing import Any

import pytest

from arkit.cli import main


def test_bench_speculative_quick_prints_figures_for_each_drafter(capsys: Any) -> None:
    pytest.importorskip("arkit_hf")
    assert main(["bench", "speculative", "--quick", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["benchmark"] == "speculative" and report["quick"]
    measured = {(r["drafter"], r["workload"], r["batch"], r["mode"]) for r in report["results"]}
    for drafter in ("core/prompt-lookup", "core/draft-model", "core/hierarchical"):
        for mode in ("greedy", "sampling"):
            for workload, batch in (("quote", 1), ("quote", 8), ("free", 1), ("free", 8), ("mixed", 8)):
                assert (drafter, workload, batch, mode) in measured
            assert (drafter, "mixed", 1, mode) not in measured  # a mix needs two rows at least
    try:
        import arkit_retrieval  # noqa: F401 - installed: its corpus-backed drafter is measured too
    except ImportError:
        assert any("retrieval/datastore" in note for note in report["notes"])
    else:
        assert ("retrieval/datastore", "quote", 8, "greedy") in measured
    for r in report["results"]:
        assert r["speedup"] > 0 and r["mean_accepted_per_call"] >= 1.0
        if r["mode"] == "greedy":
            assert r["same_tokens_as_plain"], r
    peers = {p["variant"] for p in report["peers"]}
    assert {"transformers-plain", "transformers-assisted", "transformers-prompt-lookup"} <= peers
    names = [t["name"] for t in report["targets"]]
    assert any("core/prompt-lookup batch 1 quote" in n for n in names) and all("met" in t for t in report["targets"])
    assert any(n.startswith("every core drafter batch 8 free") for n in names)
    lossless = next(t for t in report["targets"] if t["name"].startswith("lossless"))
    assert lossless["met"] and lossless["target"] == sum(r["mode"] == "greedy" for r in report["results"])
