"""``scripts/train_reference.py``, the recipe of the byte-level reference model (issue 25): a smoke run.

The model is not shipped yet: its two runs so far wrote English and Python but did not learn to
copy spans of varying length (see the script's docstring). This checks that the recipe runs and
records what the shipped folder must carry.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import arkit

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_reference.py"


def test_the_reference_recipe_runs_both_stages_and_records_its_data(tmp_path: Path) -> None:
    ship = tmp_path / "ship"
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--checkpoint-every", "1", "--batch-size", "2",
                           "--seq-len", "64", "--copy-steps", "1", "--max-files", "30", "--out-dir", str(tmp_path / "run"),
                           "--target", str(ship)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((ship / "training.json").read_text())
    assert record["steps"] == 3 and record["seed"] == 0 and "copy_test" in record  # 2 steps, then 1 of stage 2
    assert record["stage2"]["steps"] == 1 and record["train_files"] + record["held_out_files"] == 30
    assert [m["step"] for m in record["log"] if "eval_loss" in m] == [2, 3]
    rebuilt = arkit.Pipeline.from_pretrained(ship)
    assert rebuilt.backbone.config["d_model"] == 256 and rebuilt.backbone.config["n_layers"] == 4
    assert {p.dtype for p in rebuilt.backbone.parameters()} == {next(rebuilt.head.parameters()).dtype}
