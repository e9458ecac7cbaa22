"""The id trie and the substring constraint against brute force; every constrained output exists; contracts."""

from __future__ import annotations

import random

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.testing import ConstraintContract
from arkit_retrieval import IdTrieConstraint, SubstringConstraint, SuffixIndex, score_passages

VOCAB = 12
EOS = VOCAB - 1
sequences = st.lists(st.lists(st.integers(0, EOS - 1), min_size=1, max_size=6), min_size=1, max_size=20)
corpora = st.lists(st.lists(st.integers(0, EOS - 1), min_size=1, max_size=25), min_size=1, max_size=5)


def _prefixes(seqs: list[list[int]]) -> set[tuple[int, ...]]:
    return {tuple(s[:i]) for s in seqs for i in range(len(s) + 1)}


@given(seqs=sequences)
def test_trie_allows_exactly_the_continuations_of_its_sequences(seqs: list[list[int]]) -> None:
    trie = IdTrieConstraint(sequences=seqs, eos_token_id=EOS)
    for prefix in _prefixes(seqs):
        state = trie.start()
        for t in prefix:
            state = trie.advance(state, t)
        expected = {s[len(prefix)] for s in seqs if len(s) > len(prefix) and tuple(s[: len(prefix)]) == prefix}
        complete = list(prefix) in seqs
        if complete:
            expected.add(EOS)
        assert set(trie.allowed(state)) == expected
        assert trie.complete(state) == complete
        assert trie.tokens_of(state) == list(prefix)


@given(corpus=corpora, data=st.data())
def test_substring_constraint_allows_exactly_the_corpus_ngrams(corpus: list[list[int]], data: st.DataObject) -> None:
    constraint = SubstringConstraint(documents=corpus, eos_token_id=EOS, max_length=30)
    ngrams = {tuple(d[i:j]) for d in corpus for i in range(len(d)) for j in range(i, len(d) + 1)}
    doc = data.draw(st.sampled_from(corpus))
    i = data.draw(st.integers(0, len(doc) - 1))
    prefix = tuple(doc[i: data.draw(st.integers(i, len(doc)))])
    state = constraint.start()
    for t in prefix:
        assert t in constraint.allowed(state)  # list form (no vocab_size)
        state = constraint.advance(state, t)
    expected = {n[len(prefix)] for n in ngrams if len(n) > len(prefix) and n[: len(prefix)] == prefix}
    if prefix:
        expected.add(EOS)
    assert set(constraint.allowed(state)) == expected
    index = SuffixIndex(corpus)
    brute = sum(1 for d in corpus for i in range(len(d) - len(prefix) + 1) if tuple(d[i: i + len(prefix)]) == prefix)
    assert index.count(prefix) == brute == (constraint.count(state) if prefix else brute)


def test_mask_form_equals_list_form() -> None:
    seqs = [[1, 2, 3], [1, 2], [4]]
    as_list, as_mask = IdTrieConstraint(sequences=seqs, eos_token_id=7), IdTrieConstraint(sequences=seqs, eos_token_id=7, vocab_size=8)
    for prefix in ([], [1], [1, 2], [4]):
        a, b = as_list.start(), as_mask.start()
        for t in prefix:
            a, b = as_list.advance(a, t), as_mask.advance(b, t)
        assert sorted(as_list.allowed(a)) == as_mask.allowed(b).nonzero().flatten().tolist()
    sub_list, sub_mask = SubstringConstraint(documents=seqs), SubstringConstraint(documents=seqs, vocab_size=8)
    assert sorted(sub_list.allowed(sub_list.start())) == sub_mask.allowed(sub_mask.start()).nonzero().flatten().tolist()
    with pytest.raises(arkit.ConfigError, match="vocab_size"):
        IdTrieConstraint(sequences=seqs, vocab_size=3)


def test_seal_scores_rank_the_document_holding_the_rare_ngram_first() -> None:
    index = SuffixIndex([[1, 2, 3, 4], [1, 2, 5, 6], [1, 2, 7, 8]])
    ranked = score_passages(index, [((1, 2), -0.1), ((5, 6), -0.5), ((9,), -0.1)])
    assert ranked[0][0] == 1 and ranked[0][1] > 0
    assert {d for d, _ in ranked} == {0, 1, 2}


@settings(max_examples=8)
@given(seqs=sequences, seed=st.integers(0, 2**16), mode=st.sampled_from(["greedy", "sample", "beam"]))
def test_every_constrained_output_is_an_existing_id(seqs: list[list[int]], seed: int, mode: str) -> None:
    torch.manual_seed(seed)
    tok = arkit.create("tokenizer", "core/byte")
    V = tok.vocab_size
    backbone = arkit.create("backbone", "core/transformer", vocab_size=V, d_model=16, n_layers=1, n_heads=2,
                            max_seq_len=64)
    head = arkit.create("head", "core/categorical", d_model=16, vocab_size=V)
    sampler = arkit.create("sampler", "core/temperature", temperature=1.0) if mode == "sample" else None
    pipe = arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head, **({"sampler": sampler} if sampler else {}))
    eos = tok.special_tokens["eos"]
    trie = IdTrieConstraint(sequences=seqs, eos_token_id=eos, vocab_size=V)
    beams = 3 if mode == "beam" else 1
    out = pipe.generate(prompt_ids=[[1, 2], [3]], max_new_tokens=8, constraint=trie, num_beams=beams,
                        num_return_sequences=beams, seed=seed)
    for s in out.sequences:
        assert [t for t in s if t != eos] in seqs


def test_constraint_config_errors() -> None:
    with pytest.raises(arkit.ConfigError, match="at least one"):
        IdTrieConstraint(sequences=[])
    with pytest.raises(arkit.ConfigError, match="eos"):
        IdTrieConstraint(sequences=[[1, 2]], eos_token_id=2)
    with pytest.raises(arkit.ConfigError, match="empty"):
        SubstringConstraint(documents=[[1], []])


def test_trie_scales_to_many_ids_and_stays_exact() -> None:
    rng = random.Random(0)
    seqs = [[rng.randrange(40) for _ in range(rng.randrange(1, 12))] for _ in range(5000)]
    trie = IdTrieConstraint(sequences=seqs)
    for s in rng.sample(seqs, 200):
        assert trie.contains(s)
    assert not trie.contains([41])


class TestIdTrieContract(ConstraintContract):
    component = "retrieval/id-trie"
    vocab_size = 8
    config = {"sequences": [[1, 2, 3], [1, 2], [4], [5, 1, 1, 6]], "eos_token_id": 7, "vocab_size": 8}


class TestSubstringContract(ConstraintContract):
    component = "retrieval/substring"
    vocab_size = 8
    config = {"documents": [[1, 2, 3, 1, 2, 4], [2, 3, 5, 6]], "eos_token_id": 7, "max_length": 4, "vocab_size": 8}
