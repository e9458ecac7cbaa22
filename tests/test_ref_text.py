"""``core/ref-text``, the shipped byte-level reference model, and its recipe ``scripts/train_reference.py``."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import arkit

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "train_reference.py"


def _recipe():  # the script is not a package module: load it by path
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_reference", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_reference_model_copies_what_its_context_repeats() -> None:
    """The issue's copy test: a 40-character random string once, then its first 4 characters;
    greedy decoding must continue the repeat with >= 90 % of the characters right."""
    pipe = arkit.Pipeline.from_preset("core/ref-text")
    assert 3_000_000 < pipe.num_parameters < 5_000_000
    assert _recipe().copy_test(pipe) >= 0.9


def test_the_shipped_reference_model_records_how_it_was_built() -> None:
    folder = Path(arkit.get_preset("core/ref-text").weights)
    record = json.loads((folder / "training.json").read_text())
    assert record["copy_test"] >= 0.9 and record["eval_loss"] < 2.0
    assert record["copy"]["steps"] > 0 and record["text"]["steps"] > 0 and record["seed"] == 0
    assert record["log"][-1]["step"] == record["steps"]
    weights = sorted(folder.rglob("*.safetensors"))
    assert weights and sum(w.stat().st_size for w in weights) < 10_000_000  # float16, under about 10 MB


def test_the_shipped_reference_model_writes_text_like_its_data() -> None:
    pipe = arkit.Pipeline.from_preset("core/ref-text")
    out = pipe.generate(["def ", "The "], max_new_tokens=60, seed=0)
    assert all(out.decoded)
    letters = sum(ch.isalpha() or ch in " \n" for text in out.decoded for ch in text)
    assert letters / sum(len(text) for text in out.decoded) > 0.7  # words, not byte noise


def test_the_reference_recipe_runs_its_three_stages_and_records_its_data(tmp_path: Path) -> None:
    ship = tmp_path / "ship"
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "2", "--checkpoint-every", "1", "--batch-size", "2",
                           "--seq-len", "64", "--copy-steps", "1", "--hard-steps", "1", "--max-files", "30",
                           "--out-dir", str(tmp_path / "run"),
                           "--target", str(ship)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((ship / "training.json").read_text())
    assert record["steps"] == 4 and record["seed"] == 0 and "copy_test" in record  # 1 + 1 copy steps, 2 of text
    assert record["copy"]["steps"] == 1 and record["copy-hard"]["steps"] == 1 and record["text"]["steps"] == 2
    assert record["text"]["train_files"] + record["text"]["held_out_files"] == 30
    assert record["copy"]["mix_by_characters"] == {"fill": 1.0}
    assert record["copy-hard"]["mix_by_characters"] == {"fill": 0.5, "fill-hard": 0.5}
    assert [(m["step"], m["stage"]) for m in record["log"] if "eval_loss" in m] == [(1, "copy"), (2, "copy-hard"),
                                                                                   (4, "text")]
    rebuilt = arkit.Pipeline.from_pretrained(ship)
    assert rebuilt.backbone.config["d_model"] == 256 and rebuilt.backbone.config["n_layers"] == 4
    assert {p.dtype for p in rebuilt.backbone.parameters()} == {next(rebuilt.head.parameters()).dtype}


DRAFTERS = ROOT / "scripts" / "train_reference_drafters.py"


def test_the_shipped_drafters_agree_with_the_reference_model_and_change_no_token() -> None:
    """``core/ref-text-draft``, ``-medusa`` and ``-eagle``: the reference model plus a drafter trained for it.
    Greedy decoding with either gives plain decoding's tokens, in fewer target passes on a prompt that repeats."""
    plain = arkit.Pipeline.from_preset("core/ref-text", sampler=arkit.create("sampler", "core/greedy"))
    prompt = ["def read_config(path):\n    with open(path) as f:\n        return f.read()\n\n"
              "def read_config(path):\n    with open(path) as f:\n"]
    options = dict(max_new_tokens=24, eos_token_ids=(), num_draft_tokens=5)
    expected = plain.generate(prompt, **options).sequences
    for name, kind, least in (("core/ref-text-draft", "DraftModel", 0.6), ("core/ref-text-medusa", "MedusaHeads", 0.4),
                              ("core/ref-text-eagle", "EagleDrafter", 0.6)):
        pipe = arkit.Pipeline.from_preset(name, sampler=arkit.create("sampler", "core/greedy"))
        assert type(pipe.drafter).__name__ == kind and pipe.backbone.config == plain.backbone.config
        out = pipe.generate(prompt, **options)
        assert out.sequences == expected, name
        assert out.speculative.target_calls < 24 and out.speculative.accepted > 0, name
        record = json.loads((Path(arkit.get_preset(name).weights) / "training.json").read_text())
        first = record.get("agreement_with_target", (record.get("agreement_with_target_per_head") or [0])[0])
        assert first >= least and record["seed"] == 0 and record["log"], name
        assert record.get("copy_test", 1.0) >= 0.9, name  # the draft model copies like its target
        assert record.get("copy_drafts_kept_per_pass", 5.0) >= 2.0, name  # and EAGLE drafts what it copies
        weights = sorted(Path(arkit.get_preset(name).weights).rglob("*.safetensors"))
        assert [w.parent.name for w in weights] == ["drafter"]  # the drafter alone; the model is core/ref-text's


def test_the_drafters_recipe_trains_all_three_and_writes_drafter_only_folders(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(DRAFTERS), "--draft-copy-steps", "1", "--draft-hard-steps", "1",
                           "--draft-steps", "2", "--medusa-steps", "2", "--batch-size", "2", "--medusa-batch-size", "2",
                           "--eagle-copy-steps", "1", "--eagle-hard-steps", "0", "--eagle-steps", "2",
                           "--eagle-batch-size", "2",
                           "--seq-len", "64", "--max-files", "30", "--quiet", "--out-dir", str(tmp_path / "run"),
                           "--export-dir", str(tmp_path / "ship")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    draft = json.loads((tmp_path / "ship" / "ref-text-draft" / "training.json").read_text())
    assert draft["steps"] == 4 and draft["text"]["train_files"] + draft["text"]["held_out_files"] == 30
    assert 0 <= draft["agreement_with_target"] <= 1 and 0 <= draft["copy_test"] <= 1 and draft["dims"]["n_layers"] == 2
    heads = json.loads((tmp_path / "ship" / "ref-text-medusa" / "training.json").read_text())
    assert heads["steps"] == 2 and len(heads["agreement_with_target_per_head"]) == heads["num_heads"] == 5
    eagle = json.loads((tmp_path / "ship" / "ref-text-eagle" / "training.json").read_text())
    assert eagle["steps"] == {"copy": 1, "text": 2} and 0 <= eagle["agreement_with_target"] <= 1
    assert eagle["copy_drafts_kept_per_pass"] >= 0 and eagle["data"]["copy"]["mix_by_characters"] == {"fill": 1.0}
    for folder in ("ref-text-draft", "ref-text-medusa", "ref-text-eagle"):
        manifest = json.loads((tmp_path / "ship" / folder / "pipeline.json").read_text())
        assert list(manifest["components"]) == ["drafter"]
