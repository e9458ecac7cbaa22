"""arkit-molecules: SMILES, SELFIES and protein generation with arkit, and a validity-constrained SMILES sampler."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .conditioning import PropertyBins, property_value
    from .constraint import SmilesConstraint, atom_capacity
    from .datasets import DatasetNotInstalledError, LoadReport, SmilesData, kekulize, list_datasets, load_smiles
    from .evaluation import evaluate_models
    from .metrics import evaluate, fcd, internal_diversity, sa_score
    from .shipped import pretrained
    from .protein import ProteinTokenizer
    from .sampling import Intervention, Samples, measure_intervention, sample_molecules
    from .selfies_tokenizer import SelfiesTokenizer, split_selfies, to_selfies, to_smiles
    from .smiles import SmilesTokenizer, split_smiles

__all__ = [
    "DatasetNotInstalledError",
    "Intervention",
    "LoadReport",
    "PropertyBins",
    "ProteinTokenizer",
    "Samples",
    "SelfiesTokenizer",
    "SmilesConstraint",
    "SmilesData",
    "SmilesTokenizer",
    "atom_capacity",
    "evaluate",
    "evaluate_models",
    "fcd",
    "internal_diversity",
    "kekulize",
    "list_datasets",
    "load_smiles",
    "measure_intervention",
    "pretrained",
    "property_value",
    "sa_score",
    "sample_molecules",
    "split_selfies",
    "split_smiles",
    "to_selfies",
    "to_smiles",
]
__version__ = "0.1.0.dev0"


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "PropertyBins": ".conditioning",
    "property_value": ".conditioning",
    "SmilesConstraint": ".constraint",
    "atom_capacity": ".constraint",
    "DatasetNotInstalledError": ".datasets",
    "LoadReport": ".datasets",
    "SmilesData": ".datasets",
    "kekulize": ".datasets",
    "list_datasets": ".datasets",
    "load_smiles": ".datasets",
    "evaluate": ".metrics",
    "fcd": ".metrics",
    "internal_diversity": ".metrics",
    "sa_score": ".metrics",
    "evaluate_models": ".evaluation",
    "pretrained": ".shipped",
    "ProteinTokenizer": ".protein",
    "Intervention": ".sampling",
    "Samples": ".sampling",
    "measure_intervention": ".sampling",
    "sample_molecules": ".sampling",
    "SelfiesTokenizer": ".selfies_tokenizer",
    "split_selfies": ".selfies_tokenizer",
    "to_selfies": ".selfies_tokenizer",
    "to_smiles": ".selfies_tokenizer",
    "SmilesTokenizer": ".smiles",
    "split_smiles": ".smiles",
}


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
