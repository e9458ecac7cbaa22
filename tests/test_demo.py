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
    assert summary["loss_window"] == 10 and summary["loss_step_1"] > 0 and summary["held_out_documents"] > 0
    assert [step for step, _ in summary["eval_losses"]] == list(range(2, 25, 2))  # every steps // 10 = 2 steps
    spec = summary["speculative"]
    assert spec["pays_off"] == (spec["mean_accepted_per_call"] > spec["break_even_tokens_per_pass"])
    assert spec["speculative_ms_per_pass"] > 0 and spec["plain_ms_per_pass"] > 0
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    reloaded = arkit.Pipeline.from_pretrained(tmp_path / "pipeline")
    assert reloaded.backbone.config["n_layers"] == 2
    assert summary["reference"]["preset"] == "core/ref-text" == spec["model"]
    assert summary["reference"]["parameters"] > 3_000_000 and set(summary["reference"]["samples"]) == set(summary["samples"])
    # the answers quote their prompts: every one starts with its prompt and the drafter kept more than a token a pass
    assert all(answer.startswith(prompt) for prompt, answer in spec["answers"].items())
    assert spec["target_passes"] < spec["plain_passes"]


@pytest.mark.slow
def test_demo_command_with_default_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's demo, as a user runs it: corpus-like text after the default budget."""
    assert main(["demo", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["reload_identical_tokens"] and summary["loss_last"] < 2.0


def test_the_demo_summary_labels_its_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What the user reads: which losses are averages, the held-out loss, and whether the drafter paid off."""
    import arkit._demo

    fake = {"steps": 30, "loss_window": 10, "loss_first": 5.0, "loss_last": 1.3, "loss_step_1": 5.58,
            "parameters": 400_000, "train_tokens_per_s": 7000.0, "train_seconds": 12.0, "samples": {"a": "ab"},
            "reference": {"preset": "core/ref-text", "parameters": 3_346_176, "samples": {"a": "ac"}},
            "eval_losses": [[3, 4.9], [30, 1.6]], "held_out_documents": 7, "reload_identical_tokens": True,
            "saved_to": "x", "loss_curve": None,
            "speculative": {"model": "core/ref-text", "drafter": "core/prompt-lookup", "answers": {"q": "qq"},
                            "identical_to_plain_greedy": True, "target_passes": 60,
                            "plain_passes": 80, "mean_accepted_per_call": 1.3, "plain_seconds": 0.13,
                            "speculative_seconds": 0.21, "plain_ms_per_pass": 1.6, "speculative_ms_per_pass": 3.5,
                            "break_even_tokens_per_pass": 2.19, "pays_off": False},
            "onnx": {"export_seconds": 9.0, "max_abs_logit_diff": 1e-6, "onnxruntime_seconds": 0.1,
                     "identical_to_torch_greedy": True}}
    monkeypatch.setattr(arkit._demo, "run_demo", lambda *args, **kwargs: fake)
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "means of the first and last 10 steps; step 1: 5.58" in out
    assert "held-out loss 4.90 (step 3) -> 1.60 (step 30), on 7 documents never trained on" in out
    assert "pays off?" in out and "no: a pass with drafts took 3.50 ms against 1.60 ms" in out and "more than 2.19" in out
    assert "the shipped reference model core/ref-text (3,346,176 parameters)" in out and "'ac'" in out
