"""``arkit molecules eval``: sample the (shipped) models, measure them against MOSES, print the targets.

:func:`evaluate_models` samples ``samples`` molecules from each model: SMILES without
and with the validity constraint, SELFIES as they come and with the ring limit
(``SelfiesConstraint``: SELFIES are valid anyway). It measures each run against a
seeded sample of the MOSES test split, split into three disjoint parts:

- ``samples`` molecules for FCD, and a second ``samples`` as a *real twin*: FCD between
  the two is the floor a perfect model would score at this n;
- ``reference_size`` molecules for the chemistry metrics (``chemistry.py``): the test
  set's large-ring rate, QED/SA/logP/weight distributions, SNN, Frag and Scaf. The real
  twin is measured against the same reference, so every metric has a real-data value
  at the same n beside it.

The constrained runs limit ring sizes (``SmilesConstraint(max_ring_size=...)``,
``SelfiesConstraint(max_ring_size=...)``): by default to the largest ring among :data:`RING_PROBE` seeded MOSES training molecules
(:func:`largest_training_ring`), so the constraint forbids only what the training
data never shows.

Novelty is measured against the **full** MOSES training split (1.58M molecules): a
generated molecule's RDKit canonical SMILES is looked up among the split's SMILES, as
MOSES's ``novelty`` does (the split is stored canonical; ``train_canonical_agreement``
reports the share of a sample of it that today's RDKit writes identically).

The result is JSON-ready; its ``targets`` list holds one ``{name, value, target, met}``
entry per target of the issue.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
import functools
import math
import random
from typing import Any, Literal

import attrs

from arkit import ConfigError

from .chemistry import (
    LARGE_RING, cosine_similarity, filters_pass_rate, fragments, large_ring_rate, morgan_fingerprints,
    ring_size_histogram, scaffolds, snn, wasserstein,
)
from .metrics import evaluate, internal_diversity, properties

__all__ = ["HISTOGRAMS", "RING_PROBE", "TARGETS", "Reference", "chemistry_table", "evaluate_models", "full_train_set",
           "largest_training_ring", "targets"]

#: Histogram bins (low, high, count) of the property distributions stored for the figures.
HISTOGRAMS = {"qed": (0.0, 1.0, 20), "sa": (1.0, 6.0, 20)}

#: The thresholds of the issue's targets.
TARGETS = {"validity": 0.90, "fcd_over_floor": 2.0, "large_ring_gap": 0.02, "unique": 0.99, "novel": 0.90}


#: How many MOSES training molecules :func:`largest_training_ring` looks at.
RING_PROBE = 20_000


@functools.lru_cache(maxsize=4)
def largest_training_ring(size: int = RING_PROBE, seed: int = 0) -> int:
    """The most atoms in one ring among ``size`` seeded MOSES training molecules (the constraint's default limit)."""
    from .datasets import load_smiles

    mols = _mols(load_smiles("moses-train", limit=size, seed=seed).smiles)
    return max((len(ring) for mol in mols for ring in mol.GetRingInfo().AtomRings()), default=3)


@functools.lru_cache(maxsize=1)
def full_train_set() -> tuple[frozenset[str], float]:
    """The MOSES training split's SMILES (as stored: canonical) and the share of 500 of them
    that today's RDKit canonicalises to the same string (read once per process)."""
    from rdkit import Chem, RDLogger

    from .datasets import _raw

    RDLogger.DisableLog("rdApp.*")
    raw = _raw("moses-train")
    probe = random.Random(0).sample(raw, min(500, len(raw)))
    same = sum(Chem.MolToSmiles(Chem.MolFromSmiles(s)) == s for s in probe)
    return frozenset(raw), same / len(probe)


def _mols(smiles: Sequence[str]) -> list[Any]:
    from rdkit import Chem

    return [m for m in (Chem.MolFromSmiles(s) if s else None for s in smiles) if m is not None]


def _weights(mols: Sequence[Any]) -> list[float]:
    from rdkit.Chem import Descriptors

    return [float(Descriptors.MolWt(m)) for m in mols]


@attrs.frozen
class Reference:
    """A reference set with what the chemistry metrics need of it, computed once."""

    mols: list[Any]
    fingerprints: Any
    props: dict[str, list[float]]
    fragments: Counter[str]
    scaffolds: Counter[str]

    @classmethod
    def of(cls, mols: Sequence[Any]) -> Reference:
        from rdkit import Chem

        mols = list(mols)
        return cls(mols=mols, fingerprints=morgan_fingerprints(mols),
                   props={**properties([Chem.MolToSmiles(m) for m in mols]), "weight": _weights(mols)},
                   fragments=fragments(mols), scaffolds=scaffolds(mols))


def chemistry_table(mols: Sequence[Any], reference: Reference | Sequence[Any]) -> dict[str, Any]:
    """The chemistry metrics of ``mols`` against ``reference`` (RDKit molecules, or a :class:`Reference`)."""
    from rdkit import Chem

    if not isinstance(reference, Reference):
        reference = Reference.of(reference)
    props = {**properties([Chem.MolToSmiles(m) for m in mols]), "weight": _weights(mols)}
    table: dict[str, Any] = {
        "large_ring_rate": large_ring_rate(mols),
        "macrocycle_rate": large_ring_rate(mols, 12),
        "ring_sizes": {str(k): v for k, v in ring_size_histogram(mols).items()},
        "filters": filters_pass_rate(mols),
        "snn": snn(morgan_fingerprints(mols), reference.fingerprints),
        "frag": cosine_similarity(fragments(mols), reference.fragments),
        "scaf": cosine_similarity(scaffolds(mols), reference.scaffolds),
    }
    for name in ("qed", "sa", "logp", "weight"):
        table[f"{name}_w1"] = wasserstein(props[name], reference.props[name])
    for name, (low, high, bins) in HISTOGRAMS.items():
        table[f"{name}_hist"] = _histogram(props[name], low, high, bins)
    return table


def _histogram(values: Sequence[float], low: float, high: float, bins: int) -> list[int]:
    """Counts over ``bins`` equal bins of [low, high] (values outside go to the end bins)."""
    import numpy as np

    clipped = np.clip(np.asarray(values, dtype=np.float64), low, high)
    return [int(c) for c in np.histogram(clipped, bins=bins, range=(low, high))[0]]


def _run_row(smiles: Sequence[str], *, fcd_reference: Sequence[str], reference: Reference,
             train: frozenset[str]) -> dict[str, Any]:
    from rdkit import Chem

    row = evaluate(list(smiles), reference=fcd_reference)
    mols = _mols(smiles)
    unique = {Chem.MolToSmiles(m) for m in mols}
    row["novel"] = sum(s not in train for s in unique) / len(unique) if unique else math.nan
    row.update(chemistry_table(mols, reference))
    return row


def evaluate_models(models: Mapping[str, Any], *, samples: int = 1000, seed: int = 0, reference_size: int = 10_000,
                    max_ring_size: int | Literal["train"] | None = "train", progress: bool = True) -> dict[str, Any]:
    """Sample and measure each of ``models`` (``{"smiles": pipe, "selfies": pipe}``, either may be absent).

    ``max_ring_size``: the constrained run's largest ring (atoms); ``"train"`` takes
    :func:`largest_training_ring`, ``None`` sets no limit.

    Returns ``{"samples", "seed", "reference_size", "constraint": {"max_ring_size", "source"}, "test": {...},
    "runs": {run: row}, "targets": [...], "picks": {run: [12 SMILES]}}``; runs are ``smiles``,
    ``smiles+constraint`` (SMILES models), ``selfies`` and ``selfies+constraint`` (SELFIES models; the ring
    limit only, and only with a ``max_ring_size``).
    """
    from rdkit import Chem

    from .datasets import load_smiles
    from .sampling import sample_molecules

    if samples < 2:
        raise ConfigError(f"samples must be >= 2 (FCD needs two molecules), got {samples}")
    if reference_size < 10:
        raise ConfigError(f"reference_size must be >= 10, got {reference_size}")
    if not models:
        raise ConfigError("no model to evaluate: pass a SMILES and/or a SELFIES pipeline")
    if max_ring_size == "train":
        max_ring_size = largest_training_ring(RING_PROBE)
        ring_source = f"the largest ring among {RING_PROBE} MOSES training molecules (seed 0)"
    elif max_ring_size is None:
        ring_source = "no limit"
    elif isinstance(max_ring_size, int) and not isinstance(max_ring_size, bool) and max_ring_size >= 3:
        ring_source = "given"
    else:
        raise ConfigError(f"max_ring_size must be 'train', None or an int >= 3, got {max_ring_size!r}")
    test = list(load_smiles("moses-test", limit=2 * samples + reference_size, seed=seed).smiles)
    if len(test) < 2 * samples + reference_size:
        raise ConfigError(f"the MOSES test split has {len(test)} molecules; samples * 2 + reference_size must not "
                          f"exceed it")
    fcd_reference, twin, reference_smiles = test[:2 * samples], test[samples:2 * samples], test[2 * samples:]
    reference = Reference.of(_mols(reference_smiles))
    train, agreement = full_train_set()

    runs: dict[str, Any] = {}
    for kind, pipe in models.items():
        if kind == "smiles":
            runs["smiles"] = sample_molecules(pipe, samples, seed=seed, progress=progress)
            runs["smiles+constraint"] = sample_molecules(pipe, samples, constrained=True, seed=seed, progress=progress,
                                                         max_ring_size=max_ring_size)
        elif kind == "selfies":
            runs["selfies"] = sample_molecules(pipe, samples, seed=seed, progress=progress)
            if max_ring_size is not None:  # SELFIES are valid anyway: their constraint is the ring limit alone
                runs["selfies+constraint"] = sample_molecules(pipe, samples, constrained=True, seed=seed,
                                                              progress=progress, max_ring_size=max_ring_size)
        else:
            raise ConfigError(f"unknown model kind {kind!r}: use 'smiles' or 'selfies'")
    rows = {}
    for name, run in runs.items():
        rows[name] = _run_row(run.smiles, fcd_reference=fcd_reference, reference=reference, train=train)
        rows[name]["finish_reasons"] = run.finish_reasons
        rows[name]["sampling_s"] = run.seconds
        if run.intervention is not None:
            rows[name]["intervention"] = run.intervention.as_dict()
    twin_mols = _mols(twin)
    twin_row = {"molecules": len(twin_mols), "int_div": internal_diversity(twin),
                **chemistry_table(twin_mols, reference)}
    test_row = {"molecules": len(reference.mols), "large_ring_rate": large_ring_rate(reference.mols),
                "macrocycle_rate": large_ring_rate(reference.mols, 12),
                "ring_sizes": {str(k): v for k, v in ring_size_histogram(reference.mols).items()},
                "filters": twin_row["filters"],  # measured on the twin: 500 SMARTS per molecule are slow
                **{f"{name}_hist": _histogram(reference.props[name], low, high, bins)
                   for name, (low, high, bins) in HISTOGRAMS.items()},
                "twin": twin_row}
    picks = {name: [Chem.MolToSmiles(m) for m in _mols(run.smiles)[:12]] for name, run in runs.items()}
    return {"samples": samples, "seed": seed, "reference_size": reference_size,
            "constraint": {"max_ring_size": max_ring_size, "source": ring_source},
            "train_molecules": len(train), "train_canonical_agreement": agreement,
            "test": test_row, "runs": rows, "targets": targets(rows, test_row), "picks": picks}


def _entry(name: str, value: float | None, target: str, met: bool) -> dict[str, Any]:
    ok = value is not None and math.isfinite(value)
    return {"name": name, "value": round(value, 4) if ok else None, "target": target, "met": bool(ok and met)}


def targets(rows: Mapping[str, Mapping[str, Any]], test: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets as ``{name, value, target, met}`` entries (a missing run is listed as not met)."""
    t = TARGETS
    out = []
    smiles = rows.get("smiles")
    value = smiles["valid"] if smiles else None
    out.append(_entry("unconstrained SMILES validity", value, f">= {t['validity']}",
                      value is not None and value >= t["validity"]))
    for run, label in (("smiles+constraint", "constrained SMILES"), ("selfies", "SELFIES"),
                       ("selfies+constraint", "constrained SELFIES")):
        if run == "selfies+constraint" and run not in rows:
            continue  # run only with a ring limit
        row = rows.get(run)
        ratio = row["fcd"] / row["fcd_floor"] if row and row.get("fcd_floor") else None
        out.append(_entry(f"FCD / same-n floor, {label}", ratio, f"<= {t['fcd_over_floor']}",
                          ratio is not None and ratio <= t["fcd_over_floor"]))
    for run, row in rows.items():
        gap = row["large_ring_rate"] - test["large_ring_rate"]
        out.append(_entry(f"large-ring (>= {LARGE_RING} atoms) rate minus the test set's, {run}", gap,
                          f"within +-{t['large_ring_gap']}", abs(gap) <= t["large_ring_gap"]))
    for run, row in rows.items():
        out.append(_entry(f"uniqueness, {run}", row["unique"], f">= {t['unique']}", row["unique"] >= t["unique"]))
        out.append(_entry(f"novelty vs the full MOSES train split, {run}", row["novel"], f">= {t['novel']}",
                          row["novel"] >= t["novel"]))
    return out
