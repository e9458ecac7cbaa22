"""The MOSES / GuacaMol distribution metrics of generated SMILES, computed with RDKit and ``fcd``.

- **validity**: the share of samples RDKit parses *and* sanitises (a failure is
  counted, never raised; RDKit's own stderr logging is silenced);
- **uniqueness**: distinct canonical SMILES among the valid ones;
- **novelty**: the share of the unique valid molecules absent from the training set;
- **internal diversity** (IntDiv1): one minus the mean pairwise Tanimoto similarity
  of Morgan fingerprints (radius 2, 2048 bits) of the valid samples;
- **FCD** (Fréchet ChemNet Distance, Preuer et al. 2018) between the valid samples
  and a reference sample of the same size, next to its **floor**: the FCD between
  two disjoint real samples of that size (FCD is biased upwards at small n, so the
  floor is what a perfect model would score);
- **QED** and **SA score** (Ertl & Schuffenhauer, RDKit Contrib) means and spreads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import functools
import importlib.util
import math
import os
from typing import Any

import numpy as np

from arkit import InputError

__all__ = ["evaluate", "fcd", "internal_diversity", "properties", "sa_score"]


def _quiet() -> None:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")


@functools.lru_cache(maxsize=1)
def _sascorer() -> Any:
    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    spec = importlib.util.spec_from_file_location("_arkit_sascorer", path)
    if spec is None or spec.loader is None or not os.path.exists(path):
        raise InputError(f"RDKit's SA score module is missing ({path}); reinstall rdkit")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sa_score(mol: Any) -> float:
    """Synthetic accessibility, 1 (easy) to 10 (hard), from RDKit's Contrib ``sascorer``."""
    return float(_sascorer().calculateScore(mol))


def properties(smiles: Sequence[str]) -> dict[str, list[float]]:
    """QED, SA score and Crippen logP of each SMILES RDKit accepts (invalid ones are left out)."""
    from rdkit import Chem
    from rdkit.Chem import QED, Crippen

    _quiet()
    out: dict[str, list[float]] = {"qed": [], "sa": [], "logp": []}
    for s in smiles:
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is None:
            continue
        out["qed"].append(float(QED.qed(mol)))
        out["sa"].append(sa_score(mol))
        out["logp"].append(float(Crippen.MolLogP(mol)))
    return out


def internal_diversity(smiles: Sequence[str]) -> float:
    """IntDiv1: 1 - mean Tanimoto similarity over all pairs (self-pairs included, as in MOSES)."""
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    _quiet()
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fps = [generator.GetFingerprint(m) for m in (Chem.MolFromSmiles(s) for s in smiles) if m is not None]
    if not fps:
        return math.nan
    total = sum(sum(DataStructs.BulkTanimotoSimilarity(fp, fps)) for fp in fps)
    return 1.0 - total / len(fps) ** 2


def fcd(smiles_a: Sequence[str], smiles_b: Sequence[str]) -> float:
    """Fréchet ChemNet Distance between two sets of SMILES (``fcd`` package; its ChemNet weights ship with it).

    Runs on the CPU with one BLAS thread: the 512 x 512 matrix square root took 21 s with
    spinning BLAS threads on a busy 2-core machine and 1.5 s with one.
    """
    import fcd as _fcd
    from threadpoolctl import threadpool_limits

    if len(smiles_a) < 2 or len(smiles_b) < 2:
        return math.nan
    with threadpool_limits(1):
        model = _fcd.load_ref_model()
        acts = [_fcd.get_predictions(model, list(s), n_jobs=0, device="cpu") for s in (smiles_a, smiles_b)]
        return float(_fcd.calculate_frechet_distance(acts[0].mean(0), np.cov(acts[0].T), acts[1].mean(0),
                                                     np.cov(acts[1].T)))


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return float(np.mean(values)), float(np.std(values))


def evaluate(
    samples: Sequence[str], *, train: Iterable[str] = (), reference: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The metrics table of ``samples`` (SMILES strings, "" for an empty sample) as a JSON-ready dict.

    ``train``: the training SMILES (any form RDKit parses) for novelty; ``reference``:
    real SMILES, at least twice as many as the valid samples, for FCD and its floor
    (the first half is the reference sample, the second half the real-vs-real twin).
    """
    from rdkit import Chem

    _quiet()
    n = len(samples)
    if n == 0:
        raise InputError("no samples to evaluate: generate at least one")
    valid = []
    for s in samples:
        mol = Chem.MolFromSmiles(s) if s else None
        if mol is not None:
            valid.append(Chem.MolToSmiles(mol))
    unique = sorted(set(valid))
    train_set = {c for c in (Chem.MolToSmiles(m) for m in map(Chem.MolFromSmiles, train) if m is not None)}
    props = properties(valid)
    table: dict[str, Any] = {
        "samples": n,
        "valid": len(valid) / n,
        "parse_failures": n - len(valid),
        "unique": len(unique) / len(valid) if valid else math.nan,
        "novel": (sum(s not in train_set for s in unique) / len(unique)) if unique and train_set else math.nan,
        "int_div": internal_diversity(valid),
    }
    for name in ("qed", "sa", "logp"):
        table[f"{name}_mean"], table[f"{name}_std"] = _mean_std(props[name])
    if reference is not None and len(valid) >= 2:
        m = len(valid)
        if len(reference) < 2 * m:
            raise InputError(f"FCD needs at least {2 * m} reference SMILES (twice the {m} valid samples), "
                             f"got {len(reference)}")
        table["fcd"] = fcd(valid, reference[:m])
        table["fcd_floor"] = fcd(reference[m:2 * m], reference[:m])
        table["fcd_n"] = m
    return table
