"""arkit-molecules: SMILES, SELFIES and protein generation with arkit, and a validity-constrained SMILES sampler."""

from .conditioning import PropertyBins, property_value
from .constraint import SmilesConstraint, atom_capacity
from .datasets import DatasetNotInstalledError, LoadReport, SmilesData, kekulize, list_datasets, load_smiles
from .metrics import evaluate, fcd, internal_diversity, sa_score
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
    "fcd",
    "internal_diversity",
    "kekulize",
    "list_datasets",
    "load_smiles",
    "measure_intervention",
    "property_value",
    "sa_score",
    "sample_molecules",
    "split_selfies",
    "split_smiles",
    "to_selfies",
    "to_smiles",
]
__version__ = "0.1.0.dev0"
