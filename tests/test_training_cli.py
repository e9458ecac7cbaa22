"""`arkit train CONFIG` and `arkit bench train`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import arkit
from arkit.cli import main

torch.set_num_threads(1)

CONFIG = """
out_dir = "run"

[pipeline]
preset = "core/tiny-byte"
backbone = {{ d_model = 64, n_layers = 2, n_heads = 4, max_seq_len = 64 }}
head = {{ d_model = 64 }}

[data]
path = "train.txt"
eval_path = "valid.jsonl"

[train]
steps = {steps}
batch_size = 4
seq_len = 32
eval_every = 3
checkpoint_every = 3
threads = 1
"""


def _write(tmp_path: Path, steps: int) -> Path:
    (tmp_path / "train.txt").write_text("\n\n".join(["the cat sat on the mat.\nand the dog too."] * 20) + "\n")
    (tmp_path / "valid.jsonl").write_text(json.dumps({"text": "the dog sat on the cat."}) + "\n" + json.dumps("a mat") + "\n")
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(steps=steps))
    return path


def test_train_command_writes_a_pipeline_metrics_and_checkpoints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _write(tmp_path, steps=6)
    assert main(["train", str(config), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 6 and [s for s, _ in summary["eval_losses"]] == [3, 6]
    assert summary["loss_last"] < summary["loss_first"]
    pipe = arkit.Pipeline.from_pretrained(tmp_path / "run" / "pipeline")
    assert pipe.backbone.config["d_model"] == 64
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 6 + 2
    config.write_text(CONFIG.format(steps=9))
    assert main(["train", str(config), "--resume", "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["resumed_from"] == 6
    # throughput of the 3 steps this run trained (not the 9 of the whole run over this run's time)
    assert 0 < resumed["tokens_per_s"] < resumed["tokens"] / resumed["elapsed_s"]


@pytest.mark.parametrize(("text", "message"), [
    ("out_dir = 'x'\n[train]\nstepz = 3\n", "unknown \\[train\\] key"),
    ("out_dir = 'x'\ncolour = 3\n", "unknown key.*top level"),
    ("out_dir = 'x'\n[data]\npath = 'missing.txt'\n", "does not exist"),
    ("out_dir = 'x'\n[train]\nsteps = 0\n", "steps must be an integer >= 1"),
    ("out_dir = [\n", "not valid TOML"),
])
def test_bad_config_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    assert main(["train", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("arkit: error:") and "Traceback" not in err
    import re

    assert re.search(message, err), err


def test_bench_train_reports_tokens_per_second(capsys: pytest.CaptureFixture[str]) -> None:
    from arkit._bench.train import run

    report = run(sizes=("small",), steps=1, repeats=1, threads=1)
    (result,) = report["results"]
    assert report["threads"] == 1 and result["size"] == "small"
    assert result["arkit_fit_tokens_per_s"] > 0 and result["plain_loop_tokens_per_s"] > 0
    assert 0 < result["ratio_to_plain_loop"] < 10
    assert main(["bench", "train", "--sizes", "nope"]) == 1
