"""``arkit bench onnx``: a smoke test of the ONNX benchmark on tiny dimensions."""

from __future__ import annotations

from pathlib import Path
import tempfile
from typing import Any

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

TINY = {"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "ffn_hidden": 64}


def test_bench_onnx_reports_speed_parity_and_identical_tokens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its own: other tests' folders come and go

    from arkit._bench.onnx import run

    torch.set_num_threads(1)
    before = set(Path(tempfile.gettempdir()).glob("arkit-bench-onnx-*"))
    report = run(sizes=("small",), batches=(1,), prompt_tokens=8, new_tokens=8, repeats=1, threads=1,
                 _dims_override=TINY, peers=False)  # the peers have their own test (test_bench_onnx_peers.py)
    assert report["benchmark"] == "onnx"
    assert report["providers"] == {"small": "CPUExecutionProvider"}
    export = report["export"]["small"]
    assert export["export_s"] > 0 and export["parameters"] > 0 and export["graph_bytes"] > 0
    assert export["max_abs_logit_diff"] is not None and export["max_abs_logit_diff"] <= 1e-4
    assert {(c["batch"], c["past"] > 0) for c in export["cases"]} >= {(1, False), (3, True)}
    assert {c["graph"] for c in export["cases"]} == {"step", "decode"}
    assert export["decode_graph"]  # head size 16: the fused decode graph, and the step graph alone to compare
    assert {r["variant"] for r in report["results"]} == {"torch-static", "torch-dynamic", "ort", "ort-step-graph"}
    for r in report["results"]:
        assert r["size"] == "small" and r["batch"] == 1
        assert r["tokens_per_s"] > 0 and r["ms_per_step"] > 0 and r["ratio_to_best_torch"] > 0
        assert len(r["samples_s"]) == 1
    assert max(r["ratio_to_best_torch"] for r in report["results"] if r["variant"].startswith("torch")) == 1.0
    assert report["identical_tokens"] == {"small batch 1": True}
    floor = report["floor"]["small"]
    assert floor["weight_bytes_per_step"] > 0 and floor["ort_over_floor"] > 0
    assert [t["name"] for t in report["targets"]] == ["small batch 1: OrtPipeline / torch tokens/s"]
    session = report["session"]["small batch 1"]
    assert session["ms_per_step"] > 0 and 0 < session["share_of_ort_step"] < 1
    assert all(isinstance(t["met"], bool) for t in report["targets"])
    assert not set(Path(tempfile.gettempdir()).glob("arkit-bench-onnx-*")) - before  # temp folders deleted


def test_bench_onnx_rejects_an_unknown_size(capsys: Any) -> None:
    import arkit
    from arkit._bench.onnx import run
    from arkit.cli import main

    with pytest.raises(arkit.ConfigError, match="unknown size"):
        run(sizes=("huge",))
    assert main(["bench", "onnx", "--sizes", "huge", "--json"]) == 1
    assert "unknown size(s) ['huge']" in capsys.readouterr().err
