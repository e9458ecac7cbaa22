"""The chemistry metrics (ring sizes, MOSES filters, SNN, Frag, Scaf, Wasserstein), the targets and the docs tables."""

from __future__ import annotations

import importlib.util
import math

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
from rdkit import Chem, DataStructs
from rdkit.Chem import rdFingerprintGenerator

import arkit
from arkit_molecules.chemistry import (
    filter_smarts, filters_pass_rate, frag_similarity, fragments, large_ring_rate, morgan_fingerprints,
    passes_filters, ring_size_histogram, scaffold, scaffold_similarity, snn, wasserstein,
)
from arkit_molecules.evaluation import TARGETS, chemistry_table, targets
from arkit_molecules.report import BEGIN, END, render_tables, update_markdown

needs_molsets = pytest.mark.skipif(importlib.util.find_spec("moses") is None, reason="molsets is not installed")

_DRUGS = ["CC(=O)Nc1ccc(O)cc1", "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "Cn1cnc2c1c(=O)n(C)c(=O)n2C", "c1ccc2ccccc2c1",
          "O=C(O)c1ccccc1OC(=O)C", "CCN(CC)CC(=O)Nc1c(C)cccc1C", "CN1CCC[C@H]1c1cccnc1", "OC1CCCCC1"]


def _mols(smiles: list[str]) -> list:
    return [Chem.MolFromSmiles(s) for s in smiles]


def test_ring_sizes_and_large_ring_rate() -> None:
    mols = _mols(["C1CCCCC1", "c1ccc2ccccc2c1", "C1CCCCCCCCCCC1", "CCO", "C1CC1"])
    assert ring_size_histogram(mols) == {3: 1, 6: 3, 12: 1}
    assert large_ring_rate(mols) == pytest.approx(1 / 5)
    assert large_ring_rate(mols, 13) == 0.0
    assert math.isnan(large_ring_rate([]))


@needs_molsets
def test_moses_filters_read_from_the_wheel_and_applied_as_moses_does() -> None:
    assert len(filter_smarts()) == 23 + 479  # MCF rows + WEHI PAINS rows of the molsets 0.3.1 files
    assert passes_filters(Chem.MolFromSmiles("CC(=O)Nc1ccc(O)cc1"))
    assert not passes_filters(Chem.MolFromSmiles("C[N+](C)(C)C"))  # charged
    assert not passes_filters(Chem.MolFromSmiles("CCP(C)C"))  # phosphorus is not an allowed atom
    assert not passes_filters(Chem.MolFromSmiles("C1CCCCCCC1"))  # a ring of 8 atoms
    assert not passes_filters(Chem.MolFromSmiles("C=CC#N"))  # MCF1: [#6]=&!@[#6]-[#6]#[#7]
    assert filters_pass_rate(_mols(["CCO", "C[N+](C)(C)C"])) == 0.5


def _bitvect_snn(gen: list, ref: list) -> float:
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    ref_fps = [generator.GetFingerprint(m) for m in ref]
    return float(np.mean([max(DataStructs.BulkTanimotoSimilarity(generator.GetFingerprint(m), ref_fps)) for m in gen]))


def test_snn_equals_rdkit_tanimoto_and_is_one_on_the_reference_itself() -> None:
    gen, ref = _mols(_DRUGS[:4]), _mols(_DRUGS[3:])
    assert snn(morgan_fingerprints(gen), morgan_fingerprints(ref)) == pytest.approx(_bitvect_snn(gen, ref))
    assert snn(morgan_fingerprints(ref), morgan_fingerprints(ref)) == pytest.approx(1.0)
    assert math.isnan(snn(morgan_fingerprints([]), morgan_fingerprints(ref)))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(_DRUGS), min_size=1, max_size=6), st.lists(st.sampled_from(_DRUGS), min_size=1, max_size=6),
       st.lists(st.sampled_from(_DRUGS), max_size=3))
def test_snn_is_a_similarity_that_grows_with_the_reference(gen: list[str], ref: list[str], extra: list[str]) -> None:
    g, r = morgan_fingerprints(_mols(gen)), morgan_fingerprints(_mols(ref))
    value = snn(g, r, batch=2)
    assert 0.0 <= value <= 1.0 + 1e-9
    assert snn(g, morgan_fingerprints(_mols(ref + extra)), batch=3) >= value - 1e-12


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(_DRUGS), min_size=1, max_size=6), st.lists(st.sampled_from(_DRUGS), min_size=1, max_size=6))
def test_frag_and_scaf_are_symmetric_cosines(a: list[str], b: list[str]) -> None:
    ma, mb = _mols(a), _mols(b)
    frag = frag_similarity(ma, mb)
    assert 0.0 <= frag <= 1.0 + 1e-9 and frag == pytest.approx(frag_similarity(mb, ma))
    assert frag_similarity(ma, ma) == pytest.approx(1.0)
    scaf = scaffold_similarity(ma, mb)
    assert math.isnan(scaf) or (0.0 <= scaf <= 1.0 + 1e-9 and scaf == pytest.approx(scaffold_similarity(mb, ma)))


def test_fragments_and_scaffolds_as_moses_defines_them() -> None:
    assert fragments(_mols(["CCOC(=O)C", "CCOC(=O)C"])) == {"[1*]C(C)=O": 2, "[3*]O[3*]": 2, "[4*]CC": 2}
    assert scaffold(Chem.MolFromSmiles("Cc1ccc2ccccc2c1")) == "c1ccc2ccccc2c1"
    assert scaffold(Chem.MolFromSmiles("Cc1ccccc1")) is None  # one ring: below MOSES's min_rings=2


def test_wasserstein() -> None:
    assert wasserstein([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert wasserstein([0.0], [3.0]) == 3.0
    assert wasserstein([0.0, 1.0], [0.0]) == pytest.approx(0.5)  # half the mass moves by 1
    assert math.isnan(wasserstein([], [1.0]))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-100, 100), min_size=1, max_size=20), st.lists(st.floats(-100, 100), min_size=1, max_size=20),
       st.floats(-50, 50))
def test_wasserstein_is_a_metric_and_moves_with_a_shift(a: list[float], b: list[float], shift: float) -> None:
    d = wasserstein(a, b)
    assert d >= 0 and d == pytest.approx(wasserstein(b, a), abs=1e-9)
    assert wasserstein(a, [x + shift for x in a]) == pytest.approx(abs(shift), abs=1e-6)
    assert d <= wasserstein(a, [0.0]) + wasserstein([0.0], b) + 1e-9  # triangle inequality


@needs_molsets
def test_chemistry_table_of_the_reference_against_itself() -> None:
    mols = _mols(_DRUGS)
    table = chemistry_table(mols, mols)
    assert table["snn"] == pytest.approx(1.0) and table["frag"] == pytest.approx(1.0)
    assert table["qed_w1"] == 0.0 and table["sa_w1"] == 0.0 and table["large_ring_rate"] == 0.0
    assert sum(table["qed_hist"]) == len(mols)


def _row(valid: float, unique: float, novel: float, ring: float, fcd: float = 3.0) -> dict:
    return {"valid": valid, "unique": unique, "novel": novel, "large_ring_rate": ring, "fcd": fcd, "fcd_floor": 2.0}


def test_targets_say_met_only_when_the_threshold_holds() -> None:
    rows = {"smiles": _row(0.95, 1.0, 0.95, 0.01), "smiles+constraint": _row(1.0, 0.98, 0.95, 0.05, fcd=5.0)}
    out = {t["name"]: t for t in targets(rows, {"large_ring_rate": 0.0})}
    assert out["unconstrained SMILES validity"]["met"] and out["unconstrained SMILES validity"]["value"] == 0.95
    assert not out["FCD / same-n floor, constrained SMILES"]["met"]  # 2.5 > 2.0
    assert out["FCD / same-n floor, SELFIES"] == {"name": "FCD / same-n floor, SELFIES", "value": None,
                                                  "target": f"<= {TARGETS['fcd_over_floor']}", "met": False}
    assert out["large-ring (>= 8 atoms) rate minus the test set's, smiles"]["met"]
    assert not out["large-ring (>= 8 atoms) rate minus the test set's, smiles+constraint"]["met"]
    assert not out["uniqueness, smiles+constraint"]["met"] and out["uniqueness, smiles"]["met"]
    nan_rows = {"smiles": _row(0.0, math.nan, math.nan, math.nan)}
    assert not any(t["met"] for t in targets(nan_rows, {"large_ring_rate": 0.0}))


def test_docs_block_is_rewritten_from_the_json() -> None:
    results = {"runs": {"smiles": {**_row(0.9, 1.0, 0.99, 0.0), "intervention": {"argmax_removed": 0.01,
                                                                                   "mass_removed": 0.002, "steps": 10}}},
               "test": {"large_ring_rate": 0.0, "macrocycle_rate": 0.0, "filters": 1.0,
                        "twin": {"snn": 0.5, "frag": 0.99, "scaf": 0.8}},
               "targets": targets({"smiles": _row(0.9, 1.0, 0.99, 0.0)}, {"large_ring_rate": 0.0})}
    doc = f"# title\n{BEGIN}\nold\n{END}\ntail\n"
    new = update_markdown(doc, results)
    assert new.startswith("# title\n") and new.endswith("\ntail\n") and "\nold\n" not in new
    assert render_tables(results) in new and "| smiles | 0.900 |" in new and "1.00 % of 10 positions" in new
    with pytest.raises(arkit.InputError, match="eval:begin"):
        update_markdown("no block", results)
