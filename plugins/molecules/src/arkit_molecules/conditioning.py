"""Property-conditioned generation: a property bin as a prefix token (``<qed2>CC(=O)...``).

:class:`PropertyBins` splits a property (QED or Crippen logP) of the training set at
its quantiles. Training items get their bin's tag in front (a share ``drop`` of them
none, so the same model also samples unconditionally); at generation time the
prompt is ``bos`` + the tag of the bin you want. The tags are ordinary tokens of
the SMILES or SELFIES tokenizer (``<...>``), learned with the rest of the alphabet.
"""

from __future__ import annotations

from collections.abc import Sequence
import random

import attrs
import numpy as np

from arkit import ConfigError, InputError

__all__ = ["PROPERTIES", "PropertyBins", "property_value"]

PROPERTIES = ("qed", "logp")


def property_value(smiles: str, prop: str) -> float | None:
    """QED or Crippen logP of a SMILES, or ``None`` when RDKit rejects it."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import QED, Crippen

    RDLogger.DisableLog("rdApp.*")
    if prop not in PROPERTIES:
        raise ConfigError(f"unknown property {prop!r}: choose one of {PROPERTIES}")
    mol = Chem.MolFromSmiles(smiles) if smiles else None
    if mol is None:
        return None
    return float(QED.qed(mol)) if prop == "qed" else float(Crippen.MolLogP(mol))


@attrs.frozen(kw_only=True)
class PropertyBins:
    """Quantile bins of a property; ``tag(i)`` is bin ``i``'s prefix token."""

    prop: str
    edges: tuple[float, ...]
    """Inner bin edges (``bins - 1`` of them), increasing."""

    @classmethod
    def fit(cls, smiles: Sequence[str], *, prop: str = "qed", bins: int = 3,
            values: Sequence[float | None] | None = None) -> PropertyBins:
        """Bins with equal shares of ``smiles`` (at the ``1/bins, 2/bins, ...`` quantiles).

        ``values``: the property of each SMILES if already computed (QED costs milliseconds a molecule).
        """
        if bins < 2:
            raise ConfigError(f"bins must be >= 2, got {bins}")
        if values is None:
            values = [property_value(s, prop) for s in smiles]
        known = [float(v) for v in values if v is not None]
        if len(known) < bins:
            raise InputError(f"need at least {bins} valid SMILES to place {bins} bins, got {len(known)}")
        edges = np.quantile(np.asarray(known), [i / bins for i in range(1, bins)])
        return cls(prop=prop, edges=tuple(float(e) for e in edges))

    @property
    def bins(self) -> int:
        return len(self.edges) + 1

    def tag(self, index: int) -> str:
        if not 0 <= index < self.bins:
            raise ConfigError(f"bin {index} does not exist: there are {self.bins}")
        return f"<{self.prop}{index}>"

    def bin_of(self, value: float) -> int:
        return int(np.searchsorted(self.edges, value, side="right"))

    def tagged(self, smiles: Sequence[str], *, drop: float = 0.2, seed: int = 0,
               values: Sequence[float | None] | None = None) -> list[str]:
        """Training items: each SMILES behind its bin's tag, except a seeded share ``drop`` left untagged.

        ``values``: the property of each SMILES if already computed.
        """
        rng = random.Random(seed)
        if values is None:
            values = [property_value(s, self.prop) for s in smiles]
        if len(values) != len(smiles):
            raise InputError(f"got {len(values)} property values for {len(smiles)} SMILES")
        items = []
        for s, value in zip(smiles, values):
            if value is None or rng.random() < drop:
                items.append(s)
            else:
                items.append(self.tag(self.bin_of(value)) + s)
        return items
