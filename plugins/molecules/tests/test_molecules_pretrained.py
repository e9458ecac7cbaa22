"""The shipped MOSES checkpoints: their files, their samples, the eval that loads them, the docs built from it."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import safetensors
import torch

import arkit
from arkit_molecules import sample_molecules
from arkit_molecules.shipped import checkpoint_path, list_checkpoints, pretrained, training_info
from arkit_molecules.report import update_markdown

torch.set_num_threads(1)

_REPO = Path(__file__).resolve().parents[3]
_DOCS = _REPO / "docs" / "molecules.md"
_EVAL = _REPO / "docs" / "img" / "molecules" / "eval.json"
needs_docs = pytest.mark.skipif(not _DOCS.is_file() or not _EVAL.is_file(),
                                reason="the docs and their committed eval.json are not beside this checkout")
needs_molsets = pytest.mark.skipif(importlib.util.find_spec("moses") is None, reason="molsets is not installed")


def _committed() -> dict:
    return json.loads(_EVAL.read_text())


def test_shipped_checkpoints_are_small_float16_and_record_their_training() -> None:
    assert "smiles-moses" in list_checkpoints()
    for name in list_checkpoints():
        folder = checkpoint_path(name)
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert size <= 10 * 2**20, f"{name} is {size} bytes"
        for path in folder.rglob("model.safetensors"):
            with safetensors.safe_open(str(path), framework="pt") as f:
                assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F16"}
        info = training_info(name)
        assert {"seed", "data", "steps_trained", "command", "train_config", "parameters"} <= set(info)
        assert info["data"]["dataset"] == "moses-train"
        log = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
        assert log and log[-1]["step"] <= info["steps_trained"] and all(math.isfinite(r["loss"]) for r in log)
        assert log[-1]["loss"] < log[0]["loss"]


def test_missing_checkpoint_says_how_to_build_one() -> None:
    with pytest.raises(arkit.ConfigError, match="scripts/pretrain.py"):
        pretrained("nope")


@needs_docs
def test_shipped_smiles_model_is_as_valid_as_the_committed_eval_says() -> None:
    """200 fresh unconstrained samples: validity within 4 standard errors of the committed n=1000 figure."""
    pipe = pretrained("smiles-moses")
    n = 200
    run = sample_molecules(pipe, n, seed=12345, progress=False)
    from rdkit import Chem

    valid = sum(bool(s) and Chem.MolFromSmiles(s) is not None for s in run.smiles) / n
    p = _committed()["runs"]["smiles"]["valid"]
    tolerance = 4 * math.sqrt(p * (1 - p) / n + p * (1 - p) / _committed()["samples"]) + 1 / n
    assert valid >= p - tolerance
    constrained = sample_molecules(pipe, 40, constrained=True, seed=1, progress=False)
    assert all(Chem.MolFromSmiles(s) is not None for s in constrained.smiles)


@needs_molsets
def test_eval_loads_the_shipped_checkpoints_and_prints_every_target(tmp_path, capsys: pytest.CaptureFixture[str],  # noqa: ANN001
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from arkit.cli import main
    from arkit_molecules import evaluation

    monkeypatch.setattr(evaluation, "RING_PROBE", 300)  # the ring limit from fewer training molecules: faster

    assert main(["molecules", "eval", "--samples", "24", "--reference-size", "100", "--json",
                 "--out", str(tmp_path)]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["models"]["smiles"]["checkpoint"] == "smiles-moses"
    assert results["models"]["smiles"]["steps_trained"] == training_info("smiles-moses")["steps_trained"]
    assert {"smiles", "smiles+constraint"} <= set(results["runs"])
    assert results["runs"]["smiles+constraint"]["valid"] == 1.0
    limit = results["constraint"]["max_ring_size"]
    assert 5 <= limit <= 8 and "300 MOSES training molecules" in results["constraint"]["source"]
    assert max(map(int, results["runs"]["smiles+constraint"]["ring_sizes"]), default=0) <= limit
    assert results["train_molecules"] > 1_500_000  # novelty against the full MOSES training split
    names = [t["name"] for t in results["targets"]]
    assert "unconstrained SMILES validity" in names and "FCD / same-n floor, SELFIES" in names
    assert all(set(t) == {"name", "value", "target", "met"} for t in results["targets"])
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["targets"] == results["targets"]
    for figure in ("rings.png", "properties.png", "samples.png"):
        assert (tmp_path / figure).stat().st_size > 1000


@needs_docs
def test_docs_tables_are_the_committed_eval_json() -> None:
    """docs/molecules.md's tables are what report.render_tables makes of docs/img/molecules/eval.json."""
    doc = _DOCS.read_text()
    committed = _committed()
    assert update_markdown(doc, committed) == doc, \
        "docs/molecules.md is stale: run plugins/molecules/scripts/render_docs.py"
    for name, source in committed["models"].items():  # the JSON describes the checkpoints that ship
        assert source["steps_trained"] == training_info(f"{name}-moses")["steps_trained"]
    for figure in ("rings.png", "properties.png", "samples.png"):
        assert (_EVAL.parent / figure).is_file()


@pytest.mark.parametrize("value", ["2", "abc", "-1"])
def test_eval_refuses_a_bad_ring_limit_before_loading_anything(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from arkit.cli import main

    assert main(["molecules", "eval", "--max-ring-size", value]) != 0
    assert "--max-ring-size must be an int >= 3" in capsys.readouterr().err
