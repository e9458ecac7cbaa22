"""``arkit bench onnx`` with onnxruntime-genai as a peer: a smoke test on tiny dimensions."""

from __future__ import annotations

from pathlib import Path
import tempfile

import pytest

pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime_genai")

TINY = {"vocab_size": 64, "d_model": 32, "n_layers": 1, "n_heads": 2, "ffn_hidden": 64}


@pytest.mark.slow  # runs onnxruntime-genai's model builder in a subprocess
def test_bench_onnx_reports_the_peers_targets_and_where_the_time_goes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # its own: other tests' folders come and go

    from arkit._bench.onnx import run

    torch.set_num_threads(1)
    before = set(Path(tempfile.gettempdir()).glob("arkit-bench-onnx-*"))
    report = run(sizes=("small",), batches=(1,), prompt_tokens=8, new_tokens=8, repeats=1, threads=1,
                 _dims_override=TINY)
    peers = report["peers"]
    assert peers["onnxruntime_genai"]
    built = set(peers["build"]["small"])
    assert "genai-arkit-export" in built  # arkit's own export always builds; the builder's may be skipped
    assert built | {k.split(" ", 1)[1] for k in peers["skipped"]} == {"genai-arkit-export", "genai-builder"}
    variants = {r["variant"] for r in peers["results"]}
    assert variants == built | {"ort-prompt-lookup"}
    assert {r["variant"] for r in report["results"]} == {"torch-static", "torch-dynamic", "ort", "ort-step-graph"}
    for r in peers["results"]:
        assert r["tokens_per_s"] > 0 and r["ms_per_step"] > 0 and len(r["samples_s"]) == 1
    assert peers["identical_tokens"]["small batch 1 ort-prompt-lookup"] is True  # greedy speculation is lossless
    assert all(isinstance(v, bool) for v in peers["identical_tokens"].values())
    assert [t["name"] for t in peers["targets"]] == [f"small batch 1: OrtPipeline / {name} tokens/s"
                                                    for name in ("genai-arkit-export", "genai-builder")
                                                    if name in built]
    assert all(t["target"] == 1.0 and isinstance(t["met"], bool) for t in peers["targets"])
    split = peers["where_time_goes"]["small batch 1"]
    assert split["ort_session_ms_per_step"] > 0
    assert split["ort_session_ms_per_step"] + split["ort_loop_ms_per_step"] == pytest.approx(
        split["ort_ms_per_step"], abs=2e-3)
    assert not set(Path(tempfile.gettempdir()).glob("arkit-bench-onnx-*")) - before  # temp folders deleted


def test_without_peers_the_report_has_none() -> None:
    import torch

    from arkit._bench.onnx import run

    torch.set_num_threads(1)
    report = run(sizes=("small",), batches=(1,), prompt_tokens=4, new_tokens=4, repeats=1, threads=1, peers=False,
                 _dims_override=TINY)
    assert "peers" not in report and {r["variant"] for r in report["results"]} >= {"ort", "torch-static"}
