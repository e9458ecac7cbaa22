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
    measured = {(r["drafter"], r["batch"], r["mode"]) for r in report["results"]}
    for drafter in ("core/prompt-lookup", "core/draft-model", "core/hierarchical"):
        for batch in (1, 8):
            for mode in ("greedy", "sampling"):
                assert (drafter, batch, mode) in measured
    for r in report["results"]:
        assert r["speedup"] > 0 and r["mean_accepted_per_call"] >= 1.0
        if r["mode"] == "greedy":
            assert r["same_tokens_as_plain"], r
    peers = {p["variant"] for p in report["peers"]}
    assert {"transformers-plain", "transformers-assisted", "transformers-prompt-lookup"} <= peers
    names = [t["name"] for t in report["targets"]]
    assert any("core/prompt-lookup batch 1" in n for n in names) and all("met" in t for t in report["targets"])
