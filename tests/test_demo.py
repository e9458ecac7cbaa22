"""`arkit demo`: trains, generates, saves, reloads and gets the same tokens."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import arkit
from arkit._corpus import tiny_corpus
from arkit._demo import run_demo
from arkit.cli import main


def test_corpus_is_offline_text() -> None:
    corpus = tiny_corpus(50_000)
    assert len(corpus) > 20 and all(isinstance(d, str) and len(d) >= 40 for d in corpus)
    assert 50_000 <= sum(map(len, corpus)) < 60_000


def test_demo_end_to_end_on_a_small_budget(tmp_path: Path) -> None:
    summary = run_demo(tmp_path, steps=24, seq_len=32, batch_size=4, max_new_tokens=8, progress=False, log=lambda _: None)
    assert summary["reload_identical_tokens"] is True
    assert summary["steps"] == 24 and summary["loss_last"] < summary["loss_first"]
    assert summary["speculative"]["identical_to_plain_greedy"] is True
    assert summary["onnx"]["identical_to_torch_greedy"] is True and summary["onnx"]["max_abs_logit_diff"] < 1e-4
    assert summary["loss_curve"] and (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    reloaded = arkit.Pipeline.from_pretrained(tmp_path / "pipeline")
    assert reloaded.backbone.config["n_layers"] == 2


@pytest.mark.slow
def test_demo_command_with_default_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's demo, as a user runs it: corpus-like text after the default budget."""
    assert main(["demo", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reload_identical_tokens"] and summary["loss_last"] < 2.0
