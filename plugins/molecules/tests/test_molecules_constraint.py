"""The validity constraint: every string it lets through parses in RDKit, within the length budget."""

from __future__ import annotations

import functools
import random

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.testing import ConstraintContract
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


# -- the ring-size limit and the registered component --------------------------------------------------------

_SMALL_ALPHABET = ["C", "N", "O", "F", "1", "2", "3", "=", "#", "(", ")"]


class TestSmilesConstraintContract(ConstraintContract):
    component = "molecules/smiles"
    config = {"alphabet": _SMALL_ALPHABET, "max_tokens": 32, "max_ring_size": 6}
    vocab_size = 3 + len(_SMALL_ALPHABET)


def largest_ring(smiles: str) -> int:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return max((len(ring) for ring in mol.GetRingInfo().AtomRings()), default=0)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), budget=st.sampled_from([8, 16, 40, 80]), limit=st.integers(3, 9))
def test_random_paths_with_a_ring_limit_parse_and_keep_every_ring_within_it(seed: int, budget: int,
                                                                            limit: int) -> None:
    tok = tokenizer()
    constraint = SmilesConstraint(tok, max_tokens=budget, max_ring_size=limit)
    ids = walk(constraint, random.Random(seed))
    assert len(ids) <= budget
    smiles = tok.decode(ids)
    assert parses(smiles), smiles
    assert largest_ring(smiles) <= limit, smiles


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**16), limit=st.integers(3, 8))
def test_a_random_model_under_a_ring_limit_samples_valid_molecules_without_larger_rings(seed: int,
                                                                                      limit: int) -> None:
    pipe = tiny_pipeline(seed)
    budget = 48
    constraint = SmilesConstraint(pipe.tokenizer, max_tokens=budget, max_ring_size=limit)
    out = pipe.generate(prompt_ids=[[1]] * 16, constraint=constraint, max_new_tokens=budget, seed=seed)
    assert set(out.finish_reasons) == {"eos"}
    assert all(parses(s) for s in out.decoded), out.decoded
    assert max(map(largest_ring, out.decoded)) <= limit, out.decoded


def test_a_ring_limit_refuses_exactly_the_closures_that_make_larger_rings() -> None:
    tok = SmilesTokenizer(alphabet=["C", "O", "N", "1", "2", "=", "(", ")"])
    ids = {t: tok.token_id(t) for t in tok.alphabet}

    def allowed_after(smiles: str, limit: int | None, *, built_with: int | None = None) -> list[int]:
        """What the constraint with ``limit`` allows after ``smiles`` (walked with ``built_with``'s rules)."""
        builder = SmilesConstraint(tok, max_ring_size=built_with)
        state = builder.start()
        for t in tok.encode(smiles):
            state = builder.advance(state, t)
        return SmilesConstraint(tok, max_ring_size=limit).allowed(state)

    assert ids["1"] in allowed_after("C1CCCCC", 6)  # closes a 6-ring
    assert ids["1"] not in allowed_after("C1CCCCCC", 6)  # would close a 7-ring
    assert ids["1"] in allowed_after("C1CCCCCC", 7)
    assert ids["C"] not in allowed_after("C1CCCCC", 6, built_with=6)  # a 7th atom on the chain could never close 1
    assert ids["("] not in allowed_after("C1CCCCC", 6, built_with=6)  # nor a branch: ring digits come first
    assert ids["C"] in allowed_after("C1CCCCC", None)
    # the distance is measured through the molecule, ring bonds included
    assert ids["2"] in allowed_after("C12CCCC1CC", 5, built_with=5)  # ring 2: atoms 0, 4, 5, 6 (7 along the chain)
    assert ids["2"] not in allowed_after("C12CCCCCC", 5)
    # closures on one atom count in the best order (fused rings as RDKit writes them): in CC1=CC(O)=NC2=C(C)C=CC=C12
    # closure "1" alone would make a 10-ring, but after "2" (a 6-ring) it closes a 6-ring
    head = "CC1=CC(O)=NC2=C(C)C=CC=C"
    assert ids["1"] in allowed_after(head, 6, built_with=6)
    after_1 = allowed_after(head + "1", 6, built_with=6)  # "1" is pending: only a closure on this atom may follow
    assert ids["2"] in after_1
    assert not {ids["C"], ids["O"], ids["("], ids[")"], tok.special_tokens["eos"]} & set(after_1)
    assert tok.special_tokens["eos"] in allowed_after(head + "12", 6, built_with=6)
    assert ids["1"] not in allowed_after("CC1=CC(O)=NC2=C(C)C=CC=CC", 6)  # no closure left to settle it


def test_a_ring_limit_accepts_real_molecules_within_it_and_refuses_the_others() -> None:
    """Sound and not over-restrictive: NCI molecules (as RDKit writes them, fused rings closed as ``C12``) with a
    larger ring are always refused; those whose rings fit are accepted, except bridged systems spelled so that a
    closure first spans more than the limit (on every 10th: 1 of 137 at limit 5, none of 484 at 6)."""
    tok = tokenizer()
    eligible = [s for s in kekule_nci() if not set(s) & set("./\\*>")][::30]
    for limit, least in ((5, 0.95), (6, 0.99)):
        constraint = SmilesConstraint(tok, max_ring_size=limit)
        small = [s for s in eligible if largest_ring(s) <= limit]
        large = [s for s in eligible if largest_ring(s) > limit]
        assert len(small) > 30 and (large or limit == 6)
        assert not [s for s in large if constraint.check(tok.encode(s) + [constraint.eos])]
        accepted = [s for s in small if constraint.check(tok.encode(s) + [constraint.eos])]
        assert len(accepted) >= least * len(small), sorted(set(small) - set(accepted))[:5]


def test_ring_limit_and_config_errors_are_clear() -> None:
    tok = tokenizer()
    for bad in (2, 0, True, 6.5, "7"):
        with pytest.raises(arkit.ConfigError, match="max_ring_size"):
            SmilesConstraint(tok, max_ring_size=bad)
    with pytest.raises(arkit.ConfigError, match="not both"):
        SmilesConstraint(tok, alphabet=["C"])
    with pytest.raises(arkit.ConfigError, match="alphabet"):
        SmilesConstraint()
    with pytest.raises(arkit.ConfigError, match="alphabet"):
        arkit.create("constraint", "molecules/smiles", alphabet="CCO")


def test_the_constraint_travels_with_a_saved_pipeline(tmp_path) -> None:  # noqa: ANN001
    pipe = tiny_pipeline(0)
    constraint = SmilesConstraint(pipe.tokenizer, max_tokens=40, max_ring_size=6)
    pipe.replace(constraint=constraint).save_pretrained(tmp_path / "pipe")
    loaded = arkit.Pipeline.from_pretrained(tmp_path / "pipe")
    assert isinstance(loaded.constraint, SmilesConstraint)
    assert loaded.constraint.config == constraint.config and loaded.constraint.max_ring_size == 6
    out = loaded.generate(prompt_ids=[[1]] * 8, max_new_tokens=40, seed=0)  # the pipeline's own constraint
    assert all(parses(s) and largest_ring(s) <= 6 for s in out.decoded), out.decoded
