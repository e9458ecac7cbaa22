"""arkit-molecules: SMILES, SELFIES and protein generation with arkit, a validity-constrained SMILES sampler and a
ring-size-constrained SELFIES one."""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .conditioning import PropertyBins, property_value
    from .constraint import SmilesConstraint, atom_capacity
    from .datasets import DatasetNotInstalledError, LoadReport, SmilesData, kekulize, list_datasets, load_smiles
    from .evaluation import evaluate_models
    from .metrics import evaluate, fcd, internal_diversity, sa_score
    from .shipped import pretrained
    from .protein import ProteinTokenizer
    from .sampling import Intervention, Samples, measure_intervention, sample_molecules
    from .selfies_constraint import SelfiesConstraint
    from .selfies_tokenizer import SelfiesTokenizer, split_selfies, to_selfies, to_smiles
    from .smiles import SmilesTokenizer, split_smiles

__all__ = [
    "DatasetNotInstalledError",
    "Intervention",
    "LoadReport",
    "PropertyBins",
    "ProteinTokenizer",
    "Samples",
    "SelfiesConstraint",
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


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "conditioning": ["PropertyBins", "property_value"],
        "constraint": ["SmilesConstraint", "atom_capacity"],
        "datasets": ["DatasetNotInstalledError", "LoadReport", "SmilesData", "kekulize", "list_datasets", "load_smiles"],
        "metrics": ["evaluate", "fcd", "internal_diversity", "sa_score"],
        "evaluation": ["evaluate_models"],
        "shipped": ["pretrained"],
        "protein": ["ProteinTokenizer"],
        "sampling": ["Intervention", "Samples", "measure_intervention", "sample_molecules"],
        "selfies_constraint": ["SelfiesConstraint"],
        "selfies_tokenizer": ["SelfiesTokenizer", "split_selfies", "to_selfies", "to_smiles"],
        "smiles": ["SmilesTokenizer", "split_smiles"],
    },
)
