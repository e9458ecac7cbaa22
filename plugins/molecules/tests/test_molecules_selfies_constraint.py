"""The SELFIES ring limit: it follows selfies' own derivation and keeps every ring it lets through within the limit."""

from __future__ import annotations

import functools
import random

from hypothesis import given, settings, strategies as st
import pytest
import selfies as sf
import torch

import arkit
from arkit.testing import ConstraintContract
from arkit_molecules import SelfiesConstraint, SelfiesTokenizer, load_smiles, sample_molecules, to_selfies
from arkit_molecules.selfies_tokenizer import split_selfies

torch.set_num_threads(1)


@functools.lru_cache(maxsize=1)
def moses_selfies() -> tuple[str, ...]:
    return tuple(to_selfies(load_smiles("moses-train", limit=3000, seed=0).smiles)[0])


@functools.lru_cache(maxsize=1)
def tokenizer() -> SelfiesTokenizer:
    return SelfiesTokenizer().fit(moses_selfies())


def rings(smiles: str) -> list[int]:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mol = Chem.MolFromSmiles(smiles)  # kept: the ring info lives in the molecule
    return [len(ring) for ring in mol.GetRingInfo().AtomRings()]


def selfies_graph(symbols: list[str]) -> tuple[int, set[frozenset[int]]]:
    """Atoms and bonds (ring bonds included, before selfies checks their valence) of selfies' own derivation."""
    from selfies.decoder import _derive_mol_from_symbols
    from selfies.mol_graph import MolecularGraph

    mol, closures = MolecularGraph(), []
    for fragment in " ".join(symbols).split("."):
        _derive_mol_from_symbols(enumerate(iter(fragment.split())), mol, "", float("inf"), 0, None, closures, None, 0)
    bonds = {frozenset((b.src, b.dst)) for a in range(len(mol)) for b in mol.get_out_dirbonds(a)}
    bonds |= {frozenset((left.index, right.index)) for left, right, _ in closures if left.index != right.index}
    return len(mol), bonds


def tracked_bonds(state: object) -> set[frozenset[int]]:
    """The bonds a constraint state holds: chain and branch bonds, and every ring bond read (before valences)."""
    mol = state.mol  # type: ignore[attr-defined]
    bonds = {frozenset((a, b)) for a, near in enumerate(mol.tree) for b in near}
    return bonds | {frozenset((holder, atom)) for holder, atom, _ in mol.rings if holder != atom}


def follow(constraint: SelfiesConstraint, symbols: list[str]) -> object:
    tok = tokenizer()
    state = constraint.start()
    for symbol in symbols:
        state = constraint.advance(state, tok.token_id(symbol))
    return state


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_constraint_follows_selfies_own_derivation(data: st.DataObject) -> None:
    """Atoms and bonds as selfies derives them, for any string of symbols: branches that span Q + 1 symbols,
    symbols after a saturated atom skipped, index symbols read past a branch's end, fragments."""
    alphabet = list(tokenizer().alphabet)
    symbols = data.draw(st.lists(st.sampled_from(alphabet), min_size=1, max_size=60))
    state = follow(SelfiesConstraint(tokenizer(), max_ring_size=100), symbols)  # no limit in reach: nothing pends
    state = SelfiesConstraint(tokenizer(), max_ring_size=100)._finish_index(state)
    assert (len(state.mol.tree), tracked_bonds(state)) == selfies_graph(symbols)


def walk(constraint: SelfiesConstraint, rng: random.Random, length: int) -> list[int]:
    """A uniformly random path of up to ``length`` tokens, then the end wherever the constraint allows it."""
    state, ids = constraint.start(), []
    while True:
        allowed = constraint.allowed(state)
        assert allowed, f"dead end after {ids}"
        if len(ids) >= length and constraint.eos in allowed:
            return ids
        token = rng.choice([t for t in allowed if t != constraint.eos] or allowed)
        if token == constraint.eos:
            return ids
        ids.append(token)
        state = constraint.advance(state, token)


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32), length=st.integers(1, 60), limit=st.integers(3, 8))
def test_random_paths_keep_every_ring_within_the_limit(seed: int, length: int, limit: int) -> None:
    """Ring bonds that selfies may leave out at the end (for want of valence) are never relied on as chords."""
    tok = tokenizer()
    constraint = SelfiesConstraint(tok, max_ring_size=limit)
    ids = walk(constraint, random.Random(seed), length)
    state = constraint.start()
    for t in ids:
        state = constraint.advance(state, t)
    assert constraint.complete(state)
    smiles = sf.decoder("".join(tok.alphabet[t - 3] for t in ids))
    assert max(rings(smiles), default=0) <= limit, smiles


def test_a_ring_limit_refuses_exactly_the_index_symbols_that_make_larger_rings() -> None:
    tok = tokenizer()
    ids = lambda smiles: [tok.token_id(x) for x in split_selfies(sf.encoder(smiles))]  # noqa: E731
    ring8 = split_selfies(sf.encoder("C1CCCCCCO1"))  # [C]x7 [O] [Ring1] [index]
    assert ring8[-2] == "[Ring1]"
    limit7 = SelfiesConstraint(tok, max_ring_size=7)
    before = follow(limit7, ring8[:-1])
    allowed = limit7.allowed(before)
    assert tok.token_id(ring8[-1]) not in allowed  # Q = 6: back to the first atom, an 8-ring
    assert tok.token_id("[Branch1]") in allowed  # Q = 3: a 5-ring
    assert tok.token_id("[C]") in allowed  # Q = 0: the previous atom, already bonded: no ring
    assert limit7.complete(before)  # stopping inside a ring's index reads the missing symbols as 0, as selfies does
    assert SelfiesConstraint(tok, max_ring_size=8).check(ids("C1CCCCCCO1"))
    assert not limit7.check(ids("C1CCCCCCO1"))
    # on a carbon, the 8-ring closure may wait for a second closure on the same atom that splits it (a bridge):
    # until then only a ring symbol may follow, and not the end
    waiting = follow(limit7, split_selfies(sf.encoder("C1CCCCCCC1")))
    assert set(limit7.allowed(waiting)) <= {tok.token_id(x) for x in tok.alphabet if "Ring" in x}
    assert not limit7.complete(waiting)
    assert limit7.check(ids("C12CCCC(CCC2)C1")) or limit7.check(ids("C1CCCC2CCC12"))
    # fused rings whose first closure spans both rings (selfies writes the big ring first when the SMILES closes
    # it first): pending until the closure that makes it small
    assert SelfiesConstraint(tok, max_ring_size=6).check(ids("C1=CC=C2C=CC=CC2=C1"))
    assert SelfiesConstraint(tok, max_ring_size=6).check(ids("O=C1NC(c2ccco2)=NC2=C1C=CS2"))


def test_real_molecules_within_the_limit_are_accepted_and_larger_ones_refused() -> None:
    """Sound on real strings and not over-restrictive: of 1,000 MOSES training molecules (largest ring 7) all but
    a few are accepted at 7 (peri-fused systems whose first closure only becomes small through a later atom's);
    at 6, those with a 7-ring are refused."""
    tok = tokenizer()
    strings = moses_selfies()[:1000]
    at7 = SelfiesConstraint(tok, max_ring_size=7)
    refused = [s for s in strings if not at7.check([tok.token_id(x) for x in split_selfies(s)])]
    assert len(refused) <= 0.002 * len(strings), refused[:3]
    at6 = SelfiesConstraint(tok, max_ring_size=6)
    seven = [s for s in strings if 7 in rings(sf.decoder(s))][:50]
    assert seven and not [s for s in seven if at6.check([tok.token_id(x) for x in split_selfies(s)])]


def tiny_selfies_pipeline(seed: int) -> arkit.Pipeline:
    torch.manual_seed(seed)
    tok = tokenizer()
    return arkit.Pipeline(
        tokenizer=tok,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=32, n_layers=1,
                              n_heads=2, max_seq_len=128),
        head=arkit.create("head", "core/categorical", d_model=32, vocab_size=tok.vocab_size),
        sampler=arkit.create("sampler", "core/multinomial", temperature=1.0),
    )


def test_an_untrained_model_under_the_limit_samples_no_larger_ring_and_the_limit_is_measured() -> None:
    pipe = tiny_selfies_pipeline(0)
    free = sample_molecules(pipe, 64, seed=0, progress=False, max_new_tokens=48)
    limited = sample_molecules(pipe, 64, constrained=True, max_ring_size=4, seed=0, progress=False, max_new_tokens=48)
    assert max(max(rings(s), default=0) for s in free.smiles if s) > 4  # the limit has something to do
    assert max(max(rings(s), default=0) for s in limited.smiles if s) <= 4
    assert limited.intervention is not None and limited.intervention.steps > 0


def test_selfies_constraint_errors_are_clear() -> None:
    tok = tokenizer()
    for bad in (2, 0, True, 6.5, "7", None):
        with pytest.raises(arkit.ConfigError, match="max_ring_size"):
            SelfiesConstraint(tok, max_ring_size=bad)  # type: ignore[arg-type]
    with pytest.raises(arkit.ConfigError, match="not both"):
        SelfiesConstraint(tok, alphabet=["[C]"])
    with pytest.raises(arkit.ConfigError, match="alphabet"):
        SelfiesConstraint()
    pipe = tiny_selfies_pipeline(0)
    with pytest.raises(arkit.ConfigError, match="max_ring_size"):
        sample_molecules(pipe, 2, constrained=True, progress=False)
    constraint = SelfiesConstraint(tok, max_ring_size=7)
    ring8 = split_selfies(sf.encoder("C1CCCCCCO1"))
    with pytest.raises(arkit.ConfigError, match="allowed"):
        constraint.advance(follow(constraint, ring8[:-1]), tok.token_id(ring8[-1]))


_SMALL = ["[C]", "[=C]", "[N]", "[O]", "[F]", "[Branch1]", "[=Branch1]", "[Ring1]", "[=Ring1]", "[Ring2]"]


class TestSelfiesConstraintContract(ConstraintContract):
    component = "molecules/selfies"
    config = {"alphabet": _SMALL, "max_ring_size": 5}
    vocab_size = 3 + len(_SMALL)
    max_steps = 40
