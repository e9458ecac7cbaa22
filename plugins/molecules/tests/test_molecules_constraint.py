"""The validity constraint: every string it lets through parses in RDKit, within the length budget."""

from __future__ import annotations

import functools
import random

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit_molecules import SmilesConstraint, SmilesTokenizer, atom_capacity, load_smiles

torch.set_num_threads(1)


def parses(smiles: str) -> bool:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    return bool(smiles) and Chem.MolFromSmiles(smiles) is not None


@functools.lru_cache(maxsize=1)
def kekule_nci() -> tuple[str, ...]:
    """RDKit's bundled NCI set as Kekulé SMILES: charged atoms, halogens, P and S valences, %nn rings."""
    return load_smiles("nci", kekule=True).smiles


@functools.lru_cache(maxsize=1)
def tokenizer() -> SmilesTokenizer:
    return SmilesTokenizer(vocab_size=256).fit(kekule_nci())


def walk(constraint: SmilesConstraint, rng: random.Random) -> list[int]:
    """A uniformly random path through the constraint, until it picks the end token."""
    state, ids = constraint.start(), []
    while True:
        allowed = constraint.allowed(state)
        assert allowed, f"dead end after {ids}"
        token = rng.choice(allowed)
        ids.append(token)
        if token == constraint.eos:
            return ids
        state = constraint.advance(state, token)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), budget=st.sampled_from([2, 3, 5, 8, 16, 40, 80]))
def test_random_paths_through_the_constraint_always_parse_within_budget(seed: int, budget: int) -> None:
    tok = tokenizer()
    constraint = SmilesConstraint(tok, max_tokens=budget)
    ids = walk(constraint, random.Random(seed))
    assert len(ids) <= budget and ids[-1] == tok.special_tokens["eos"]
    smiles = tok.decode(ids)
    assert parses(smiles), smiles


def test_the_constraint_accepts_real_molecules() -> None:
    """Not over-restrictive: Kekulé NCI molecules without stereo, dative bonds or '.' are accepted token by token."""
    tok = tokenizer()
    constraint = SmilesConstraint(tok)
    eligible = [s for s in kekule_nci() if not set(s) & set("./\\*>")][::5]  # every fifth, to keep it short
    rejected = [s for s in eligible if not constraint.check(tok.encode(s) + [constraint.eos])]
    assert len(eligible) > 900
    assert rejected == []


def test_aromatic_stereo_and_separator_tokens_are_never_allowed() -> None:
    tok = SmilesTokenizer(alphabet=["C", "c", "n", "[nH]", "1", "(", ")", "=", ":", "/", ".", "O", "<qed0>"])
    constraint = SmilesConstraint(tok)
    never = {tok.token_id(t) for t in ("c", "n", "[nH]", ":", "/", ".", "<qed0>")}
    rng = random.Random(0)
    for _ in range(200):
        state = constraint.start()
        for _ in range(30):
            allowed = constraint.allowed(state)
            assert not never & set(allowed)
            token = rng.choice(allowed)
            if token == constraint.eos:
                break
            state = constraint.advance(state, token)
    assert atom_capacity("c") == -1 and atom_capacity("[NH4+]") == 0 and atom_capacity("C") == 4


def test_ring_closures_check_bonds_and_valences() -> None:
    tok = SmilesTokenizer(alphabet=["C", "O", "F", "1", "2", "=", "#", "(", ")"])
    constraint = SmilesConstraint(tok)
    ids = {t: tok.token_id(t) for t in tok.alphabet}

    def state_after(smiles: str):  # noqa: ANN202
        state = constraint.start()
        for t in tok.encode(smiles):
            state = constraint.advance(state, t)
        return state

    assert ids["1"] not in constraint.allowed(state_after("C1C"))  # "C1C1" would bond the two atoms twice
    assert ids["1"] in constraint.allowed(state_after("C1CC"))
    assert ids["2"] not in constraint.allowed(state_after("C12CC1"))  # the same pair again through ring 2
    assert ids["1"] in constraint.allowed(state_after("C1CCCC="))  # C1 has a valence left for a double bond
    assert ids["1"] not in constraint.allowed(state_after("O1CCCC="))  # O1 has none
    assert ids["F"] not in constraint.allowed(state_after("C1CC"))  # F would end the chain with ring 1 open
    assert ids["F"] in constraint.allowed(state_after("C1CC("))  # in a branch: the chain goes on after ")"
    assert constraint.eos not in constraint.allowed(state_after("C1CC"))  # an open ring is not a molecule
    assert constraint.eos not in constraint.allowed(state_after("C(C"))  # nor an open branch
    with pytest.raises(arkit.ConfigError, match="not allowed"):
        constraint.advance(state_after("CO"), ids["#"])


def test_an_alphabet_without_carbon_is_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="no 'C'"):
        SmilesConstraint(SmilesTokenizer(alphabet=["N", "O"]))
    with pytest.raises(arkit.ConfigError, match="max_tokens"):
        SmilesConstraint(tokenizer(), max_tokens=1)


def tiny_pipeline(seed: int) -> arkit.Pipeline:
    torch.manual_seed(seed)
    tok = tokenizer()
    return arkit.Pipeline(
        tokenizer=tok,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=32, n_layers=2,
                              n_heads=2, max_seq_len=128),
        head=arkit.create("head", "core/categorical", d_model=32, vocab_size=tok.vocab_size),
        sampler=arkit.create("sampler", "core/multinomial", temperature=1.0),
    )


@pytest.mark.parametrize("seed", range(5))
def test_a_random_model_under_the_constraint_samples_only_valid_molecules(seed: int) -> None:
    """Validity from the constraint alone: an untrained model's samples all parse and sanitise."""
    pipe = tiny_pipeline(seed)
    budget = 48
    constraint = SmilesConstraint(pipe.tokenizer, max_tokens=budget)
    out = pipe.generate(prompt_ids=[[1]] * 64, constraint=constraint, max_new_tokens=budget, seed=seed)
    assert set(out.finish_reasons) == {"eos"}
    assert all(len(s) <= budget for s in out.sequences)
    bad = [s for s in out.decoded if not parses(s)]
    assert bad == []
    unconstrained = pipe.generate(prompt_ids=[[1]] * 64, max_new_tokens=budget, seed=seed)
    assert sum(map(parses, unconstrained.decoded)) < 32  # the model alone is far from valid


def test_speculative_decoding_under_the_constraint_is_lossless() -> None:
    """Greedy: a drafter changes how many passes it takes, never the tokens."""
    pipe = tiny_pipeline(0).replace(sampler=arkit.create("sampler", "core/greedy"))
    constraint = SmilesConstraint(pipe.tokenizer, max_tokens=40)
    prompts = [[1], [1, pipe.tokenizer.token_id("C")], [1, pipe.tokenizer.token_id("N")]]
    plain = pipe.generate(prompt_ids=prompts, constraint=constraint, max_new_tokens=40)
    for drafter in ("core/prompt-lookup", "core/jacobi"):
        fast = pipe.replace(drafter=arkit.create("drafter", drafter)).generate(
            prompt_ids=prompts, constraint=constraint, max_new_tokens=40, num_draft_tokens=4)
        assert fast.sequences == plain.sequences
        assert fast.speculative is not None and fast.speculative.drafted > 0
