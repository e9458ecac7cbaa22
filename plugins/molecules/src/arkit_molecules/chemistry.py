"""Chemistry plausibility metrics, computed with RDKit as MOSES defines them.

Every function takes RDKit molecules (parse once, measure many times). Next to FCD
(``metrics.py``) these say whether generated molecules look like drug-like chemistry:

- **ring sizes**: the histogram of ring sizes (RDKit's ring perception,
  ``GetRingInfo().AtomRings()``) and the **large-ring rate**, the share of molecules
  with a ring of 8 or more atoms: the size MOSES's filters reject, so the MOSES test
  set has none (the 10-14-membered macrocycles an undertrained model writes count here);
- **MOSES filters**: the share of molecules passing ``moses.metrics.utils.mol_passes_filters``:
  no ring of 8+ atoms, no charged atom, only C, N, S, O, F, Cl, Br, H, and no match of
  the MCF or PAINS SMARTS. The SMARTS are read from the ``molsets`` wheel's
  ``mcf.csv`` and ``wehi_pains.csv`` (the package is never imported);
- **Wasserstein-1** distance between two samples of a property (QED, SA score, logP,
  molecular weight), as MOSES's ``WassersteinMetric``;
- **SNN**: the mean, over generated molecules, of the Tanimoto similarity to the nearest
  reference molecule (Morgan radius 2, 1024 bits);
- **Frag** and **Scaf**: cosine similarity between the counts of BRICS fragments
  (``FragmentOnBRICSBonds``) and of Bemis-Murcko scaffolds with at least two rings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
import csv
import functools
import importlib.util
import math
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import DatasetNotInstalledError

__all__ = [
    "ALLOWED_ATOMS", "LARGE_RING", "cosine_similarity", "filter_smarts", "filters_pass_rate", "frag_similarity",
    "fragments", "large_ring_rate", "morgan_fingerprints", "passes_filters", "ring_size_histogram", "scaffold",
    "scaffold_similarity", "scaffolds", "snn", "wasserstein",
]

#: Ring size (atoms) from which a ring counts as large: MOSES's filters reject rings of 8 or more atoms.
LARGE_RING = 8
#: The atoms MOSES's filters allow.
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})


def ring_size_histogram(mols: Iterable[Any]) -> dict[int, int]:
    """How many rings of each size (atoms per ring) the molecules have, summed over all of them."""
    counts: Counter[int] = Counter()
    for mol in mols:
        counts.update(len(ring) for ring in mol.GetRingInfo().AtomRings())
    return dict(sorted(counts.items()))


def _has_large_ring(mol: Any, size: int) -> bool:
    return any(len(ring) >= size for ring in mol.GetRingInfo().AtomRings())


def large_ring_rate(mols: Sequence[Any], size: int = LARGE_RING) -> float:
    """The share of molecules with at least one ring of ``size`` or more atoms (NaN for no molecules)."""
    if not mols:
        return math.nan
    return sum(_has_large_ring(m, size) for m in mols) / len(mols)


def _moses_metrics_dir() -> Path:
    spec = importlib.util.find_spec("moses")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotInstalledError("the MOSES filter SMARTS ship in the molsets wheel, which is not installed: "
                                       "run `pip install --no-deps molsets==0.3.1`")
    return Path(next(iter(spec.submodule_search_locations))) / "metrics"


@functools.lru_cache(maxsize=1)
def filter_smarts() -> tuple[Any, ...]:
    """The MCF and PAINS patterns of MOSES's filters, parsed (read from the molsets wheel's CSV files)."""
    from rdkit import Chem

    folder = _moses_metrics_dir()
    patterns: list[str] = []
    with (folder / "mcf.csv").open(newline="") as f:
        patterns += [row["smarts"] for row in csv.DictReader(f)]
    with (folder / "wehi_pains.csv").open(newline="") as f:  # no header: smarts, name
        patterns += [row[0] for row in csv.reader(f) if row]
    parsed = tuple(Chem.MolFromSmarts(p.strip()) for p in patterns)
    if any(p is None for p in parsed):
        raise DatasetNotInstalledError(f"a MOSES filter SMARTS in {folder} does not parse: reinstall molsets")
    return parsed


def passes_filters(mol: Any) -> bool:
    """Whether ``mol`` passes MOSES's filters (``moses.metrics.utils.mol_passes_filters``, non-isomeric)."""
    from rdkit import Chem

    if _has_large_ring(mol, LARGE_RING):
        return False
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return False
    if any(atom.GetSymbol() not in ALLOWED_ATOMS for atom in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(p) for p in filter_smarts()):
        return False
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


def filters_pass_rate(mols: Sequence[Any]) -> float:
    """The share of ``mols`` that pass MOSES's filters (NaN for no molecules)."""
    return sum(map(passes_filters, mols)) / len(mols) if mols else math.nan


def wasserstein(a: Sequence[float], b: Sequence[float]) -> float:
    """Wasserstein-1 distance between two samples of a property (NaN when either is empty).

    The integral of the absolute difference of the two empirical CDFs, computed as
    ``scipy.stats.wasserstein_distance`` does (without importing scipy.stats: ten seconds
    on a busy machine).
    """
    if not len(a) or not len(b):
        return math.nan
    x, y = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    points = np.sort(np.concatenate([x, y]))
    widths = np.diff(points)
    cdf_x = np.searchsorted(x, points[:-1], side="right") / len(x)
    cdf_y = np.searchsorted(y, points[:-1], side="right") / len(y)
    return float(np.sum(np.abs(cdf_x - cdf_y) * widths))


def morgan_fingerprints(mols: Sequence[Any]) -> np.ndarray:
    """Morgan fingerprints (radius 2, 1024 bits) as a ``(n, 1024)`` 0/1 float32 array, as MOSES's SNN uses."""
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    if not mols:
        return np.zeros((0, 1024), dtype=np.float32)
    return np.stack([generator.GetFingerprintAsNumPy(m) for m in mols]).astype(np.float32)


def snn(generated: np.ndarray, reference: np.ndarray, *, batch: int = 2048) -> float:
    """Mean over ``generated`` fingerprints of the best Tanimoto similarity to a ``reference`` one.

    Both are 0/1 arrays from :func:`morgan_fingerprints`; two empty fingerprints count as
    similarity 1 (as in MOSES).
    """
    if len(generated) == 0 or len(reference) == 0:
        return math.nan
    best = np.zeros(len(generated), dtype=np.float64)
    gen_bits = generated.sum(1)
    for start in range(0, len(reference), batch):
        ref = reference[start:start + batch]
        both = generated @ ref.T
        union = gen_bits[:, None] + ref.sum(1)[None, :] - both
        with np.errstate(invalid="ignore", divide="ignore"):
            sim = np.where(union > 0, both / np.maximum(union, 1), 1.0)
        best = np.maximum(best, sim.max(1))
    return float(best.mean())


def fragments(mols: Iterable[Any]) -> Counter[str]:
    """Counts of BRICS fragments (SMILES of ``FragmentOnBRICSBonds``' pieces) over the molecules."""
    from rdkit import Chem

    counts: Counter[str] = Counter()
    for mol in mols:
        counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))
    return counts


def scaffold(mol: Any, min_rings: int = 2) -> str | None:
    """The Bemis-Murcko scaffold's SMILES, or ``None`` when it has fewer than ``min_rings`` rings."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    try:
        core = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    smiles = Chem.MolToSmiles(core)
    return smiles if smiles and core.GetRingInfo().NumRings() >= min_rings else None


def scaffolds(mols: Iterable[Any]) -> Counter[str]:
    """Counts of the scaffolds (:func:`scaffold`) with at least two rings over the molecules."""
    return Counter(s for s in map(scaffold, mols) if s is not None)


def cosine_similarity(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two count vectors (keys missing from one count zero); NaN when either is empty."""
    if not a or not b:
        return math.nan
    keys = set(a) | set(b)
    va = np.array([a.get(k, 0) for k in keys], dtype=np.float64)
    vb = np.array([b.get(k, 0) for k in keys], dtype=np.float64)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def frag_similarity(generated: Iterable[Any], reference: Iterable[Any]) -> float:
    """MOSES's Frag: cosine similarity of the BRICS fragment counts."""
    return cosine_similarity(fragments(generated), fragments(reference))


def scaffold_similarity(generated: Iterable[Any], reference: Iterable[Any]) -> float:
    """MOSES's Scaf: cosine similarity of the counts of scaffolds with at least two rings."""
    return cosine_similarity(scaffolds(generated), scaffolds(reference))
