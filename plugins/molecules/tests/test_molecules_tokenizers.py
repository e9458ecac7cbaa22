"""Tokenizers: contracts with fitted alphabets and invalid items, round trips over bundled molecules, errors."""

from __future__ import annotations

import functools

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.testing import TokenizerContract
from arkit_molecules import ProteinTokenizer, SelfiesTokenizer, SmilesTokenizer, load_smiles, split_smiles, to_selfies

torch.set_num_threads(1)


@functools.lru_cache(maxsize=1)
def bundled() -> tuple[str, ...]:
    """Canonical SMILES of RDKit's bundled NCI set (a mix of aromatic, charged, stereo and %nn rings)."""
    return load_smiles("nci").smiles


@functools.lru_cache(maxsize=1)
def selfies_pairs() -> tuple[tuple[str, str], ...]:
    """(SMILES, SELFIES) of the first 1,000 bundled molecules the SELFIES encoder accepts."""
    return tuple((s, e[0]) for s in bundled()[:1000] if (e := to_selfies([s])[0]))


def bundled_selfies() -> tuple[str, ...]:
    return tuple(e for _, e in selfies_pairs())


@functools.lru_cache(maxsize=1)
def smiles_alphabet() -> list[str]:
    return list(SmilesTokenizer(vocab_size=256).fit(bundled()).alphabet)


@functools.lru_cache(maxsize=1)
def selfies_alphabet() -> list[str]:
    return list(SelfiesTokenizer(vocab_size=256).fit(bundled_selfies()).alphabet)


class TestSmilesContract(TokenizerContract):
    component = "molecules/smiles"
    invalid_items = st.sampled_from(["C!C", "CC$$x", "[Xx", 42, None, "CC[U]"])

    def make(self):  # noqa: ANN201
        return arkit.create("tokenizer", "molecules/smiles", alphabet=smiles_alphabet(), vocab_size=256)

    items = st.deferred(lambda: st.sampled_from(bundled()))


class TestSelfiesContract(TokenizerContract):
    component = "molecules/selfies"
    invalid_items = st.sampled_from(["C", "[C]x", "[C][Xx]", b"[C]"])

    def make(self):  # noqa: ANN201
        return arkit.create("tokenizer", "molecules/selfies", alphabet=selfies_alphabet(), vocab_size=256)

    items = st.deferred(lambda: st.sampled_from(bundled_selfies()))


class TestProteinContract(TokenizerContract):
    component = "molecules/protein"
    items = st.text(alphabet="ACDEFGHIKLMNPQRSTVWYX", max_size=60)
    invalid_items = st.sampled_from(["acd", "MKT*", "B", "MK T", 7])


# -- SMILES ------------------------------------------------------------------------
def test_regex_keeps_bracket_atoms_halogens_and_two_digit_rings_whole() -> None:
    assert split_smiles("C[C@@H](Cl)C%12CCBr.[NH4+]C%12") == [
        "C", "[C@@H]", "(", "Cl", ")", "C", "%12", "C", "C", "Br", ".", "[NH4+]", "C", "%12"]
    assert split_smiles("<qed2>CCO") == ["<qed2>", "C", "C", "O"]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_every_bundled_smiles_round_trips_after_fitting(data: st.DataObject) -> None:
    tokenizer = SmilesTokenizer(alphabet=smiles_alphabet())
    smiles = data.draw(st.sampled_from(bundled()))
    assert tokenizer.decode(tokenizer.encode(smiles)) == smiles


def test_fit_learns_the_alphabet_most_frequent_first_and_it_saves(tmp_path) -> None:  # noqa: ANN001
    tokenizer = SmilesTokenizer()
    assert tokenizer.fitted is False and tokenizer.config["alphabet"] is None
    tokenizer.fit(["CCO", "CCN", "C[Se]C"])
    assert tokenizer.fitted and tokenizer.alphabet[0] == "C" and "[Se]" in tokenizer.alphabet
    assert tokenizer.vocab_size == 128  # the capacity is fixed so a model can be built before fitting
    pipe = arkit.Pipeline(
        tokenizer=tokenizer,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=128, d_model=16, n_layers=1, n_heads=2),
        head=arkit.create("head", "core/categorical", d_model=16, vocab_size=128),
    )
    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "p"))
    assert loaded.tokenizer.alphabet == tokenizer.alphabet and loaded.tokenizer.fitted
    assert loaded.tokenizer.encode("C[Se]C") == tokenizer.encode("C[Se]C")


def test_pipeline_fit_fits_an_unfitted_tokenizer_first() -> None:
    pipe = arkit.Pipeline.from_preset("molecules/smiles-small", backbone={"d_model": 16, "n_layers": 1, "n_heads": 2},
                                      head={"d_model": 16})
    assert not pipe.tokenizer.fitted
    pipe.fit(["C[Si](C)(C)C", "CCO"] * 8, arkit.TrainConfig(steps=1, batch_size=2, seq_len=16, threads=1,
                                                             progress=False))
    assert pipe.tokenizer.fitted and "[Si]" in pipe.tokenizer.alphabet


def test_unknown_token_names_the_token_and_its_position() -> None:
    tokenizer = SmilesTokenizer(alphabet=["C", "O"])
    with pytest.raises(arkit.InputError, match=r"token 'N' \(token 2, character 2\)"):
        tokenizer.encode("CCNO")
    with pytest.raises(arkit.InputError, match=r"character '!' at position 1"):
        tokenizer.encode("C!")


def test_an_alphabet_larger_than_the_capacity_is_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="larger vocab_size"):
        SmilesTokenizer(vocab_size=8).fit(["CCO", "CN", "CS", "CF", "CCl", "CBr"])
    with pytest.raises(arkit.InputError, match="no SMILES"):
        SmilesTokenizer().fit([])


# -- SELFIES and proteins ----------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(st.data())
def test_selfies_round_trip_and_decode_to_the_same_molecule(data: st.DataObject) -> None:
    from rdkit import Chem

    from arkit_molecules import to_smiles

    tokenizer = SelfiesTokenizer(alphabet=selfies_alphabet())
    smiles, selfies = data.draw(st.sampled_from(selfies_pairs()))
    assert tokenizer.decode(tokenizer.encode(selfies)) == selfies
    original = Chem.MolToSmiles(Chem.MolFromSmiles(smiles))
    assert Chem.MolToSmiles(Chem.MolFromSmiles(to_smiles(selfies))) == original


def test_protein_tokenizer_names_a_bad_residue() -> None:
    tokenizer = ProteinTokenizer()
    assert tokenizer.vocab_size == 24 and tokenizer.decode(tokenizer.encode("MKTX")) == "MKTX"
    with pytest.raises(arkit.InputError, match=r"'z' at position 2"):
        tokenizer.encode("MKz")
