"""The module the ``arkit`` entry point names: hook implementations only (cheap to import).

Components are registered by import path, so that listing them (``arkit plugins``) imports no torch.
"""

from __future__ import annotations

import arkit
from arkit.hookspecs import CommandRegister, ComponentRegister, PresetRegister

_SMILES_EXAMPLES = ("C", "CCO", "C1=CC=CC=C1", "CC(=O)NC1=CC=C(O)C=C1", "c1ccc2[nH]ccc2c1", "Cl/C=C/Br",
                    "C[C@@H](N)C(=O)O", "CC(C)C1CCC(C)CC1O", "C1CC2CCC1C2", "O=[N+]([O-])C1=CC=CC=C1", "C%10CC%10")
_SELFIES_EXAMPLES = ("[C]", "[C][C][O]", "[C][=C][C][=C][C][=C][Ring1][=Branch1]", "[C][C][Branch1][C][C][O]",
                     "[N][#C]", "[O][=C][Branch1][C][O][C]")
_PROTEIN_EXAMPLES = ("", "M", "MKTAYIAKQRQISFVKSHFSRQ", "ACDEFGHIKLMNPQRSTVWYX", "GGGGSGGGGS")

#: The small model of the presets and the demo: about 0.6M parameters.
SMALL = {"d_model": 128, "n_layers": 3, "n_heads": 4, "max_seq_len": 128}


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``molecules/smiles``, ``molecules/selfies`` and ``molecules/protein``."""
    register("molecules/smiles", "arkit_molecules.smiles:SmilesTokenizer", examples=_SMILES_EXAMPLES,
             description="atom-level SMILES regex (bracket atoms, Cl/Br, %nn rings), alphabet learned by fit()")
    register("molecules/selfies", "arkit_molecules.selfies_tokenizer:SelfiesTokenizer", examples=_SELFIES_EXAMPLES,
             description="SELFIES symbols (selfies package): every token sequence decodes to a valid molecule")
    register("molecules/protein", "arkit_molecules.protein:ProteinTokenizer", examples=_PROTEIN_EXAMPLES,
             description="protein sequences: the 20 amino acids and X, one token per residue")


@arkit.hookimpl
def arkit_register_constraints(register: ComponentRegister) -> None:
    """``molecules/smiles``: valid Kekulé SMILES only, within a token budget and a largest ring size;
    ``molecules/selfies``: SELFIES whose rings stay within a largest size."""
    register("molecules/smiles", "arkit_molecules.constraint:SmilesConstraint",
             description="Kekulé SMILES that parse and sanitise in RDKit: valences, branches, ring closures; "
                         "optional max_tokens and max_ring_size (atoms per ring)")
    register("molecules/selfies", "arkit_molecules.selfies_constraint:SelfiesConstraint",
             description="SELFIES whose rings have at most max_ring_size atoms (ring indices followed through "
                         "selfies' derivation)")


@arkit.hookimpl
def arkit_register_pipeline_presets(register: PresetRegister) -> None:
    """``molecules/smiles-small`` and ``molecules/selfies-small``: untrained 0.6M-parameter models."""
    for name, tokenizer in (("smiles", "molecules/smiles"), ("selfies", "molecules/selfies")):
        vocab = 128  # the tokenizers' default capacity: the alphabet is learned when Pipeline.fit runs
        register(
            f"molecules/{name}-small",
            {
                "tokenizer": (tokenizer, {"vocab_size": vocab}),
                "backbone": ("core/transformer", {"vocab_size": vocab, **SMALL}),
                "head": ("core/categorical", {"d_model": SMALL["d_model"], "vocab_size": vocab}),
                "sampler": ("core/multinomial", {"temperature": 1.0}),
                "cache": ("core/dynamic", {}),
            },
            description=f"a 0.6M-parameter {name.upper()} model; Pipeline.fit learns the alphabet, then trains "
                        f"(a few minutes on one CPU thread; see `arkit molecules demo`)",
        )


@arkit.hookimpl
def arkit_register_commands(register: CommandRegister) -> None:
    """``arkit molecules eval`` and ``arkit molecules demo``."""
    register("molecules", "arkit_molecules.cli:run", help="molecule generation: train, sample and evaluate",
             arguments="arkit_molecules.cli:add_arguments")  # imported only when the command is used
