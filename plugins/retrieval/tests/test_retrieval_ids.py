"""Id tokenizers: ids round-trip, the three families, bad input, and the tokenizer contract."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
import pytest

import arkit
from arkit.testing import TokenizerContract
from arkit_retrieval import AtomicIdTokenizer, Document, SemanticIdTokenizer, TitleIdTokenizer, training_pairs

IDS = ["os.path.join", "os.path.split", "os.getcwd", "json.dumps", "json.loads", "re.compile", "re"]
PAIRS = [(f"text about {d}", d) for d in IDS] + [("Compile a pattern.", "re.compile")]


def _fitted(cls: type, **kw: Any) -> Any:
    tok = cls(**kw)
    tok.fit(PAIRS)
    return tok


@pytest.mark.parametrize("cls,kw", [(TitleIdTokenizer, {}), (TitleIdTokenizer, {"unit": "char"}),
                                    (AtomicIdTokenizer, {}), (SemanticIdTokenizer, {"branching": 2, "leaf_size": 2}),
                                    (TitleIdTokenizer, {"text_vocab_size": 300})])
def test_every_id_round_trips_and_is_recognised(cls: type, kw: dict) -> None:
    tok = _fitted(cls, **kw)
    seqs = tok.sequences()
    assert len({tuple(s) for s in seqs}) == len(IDS)  # one sequence per document, all different
    for doc_id, seq in zip(tok.ids, seqs):
        assert tok.decode(seq) == doc_id
        assert tok.doc_id_of(seq + [tok.special_tokens["eos"]]) == doc_id
        ids = tok.encode(("a query", doc_id))
        assert ids[-len(seq):] == seq and ids[-len(seq) - 1] == tok.special_tokens["sep"]
        assert all(0 <= i < tok.vocab_size for i in ids)
    rebuilt = cls(**tok.config)
    assert rebuilt.sequences() == seqs and rebuilt.vocab_size == tok.vocab_size


def test_title_ids_spell_ids_that_do_not_exist_and_say_so() -> None:
    tok = _fitted(TitleIdTokenizer)
    made_up = [tok.id_offset + tok.units.index(u) for u in ("json", "path", "compile")]
    assert tok.decode(made_up) == "json.path.compile"
    assert tok.doc_id_of(made_up) is None


def test_semantic_ids_put_similar_documents_under_one_prefix() -> None:
    docs = [(f"path file directory join split {i}", f"p{i}") for i in range(6)]
    docs += [(f"json encode decode serialize object {i}", f"j{i}") for i in range(6)]
    tok = SemanticIdTokenizer(branching=2, leaf_size=6, dims=4)
    tok.fit(docs)
    first = {d: tok.id_tokens(d)[0] for _, d in docs}
    assert len({first[f"p{i}"] for i in range(6)}) == 1 and len({first[f"j{i}"] for i in range(6)}) == 1
    assert first["p0"] != first["j0"]


def test_text_is_cut_at_max_text_tokens() -> None:
    tok = TitleIdTokenizer(ids=IDS, max_text_tokens=5)
    assert tok.encode("x" * 50) == [ord("x")] * 5 + [tok.special_tokens["sep"]]
    assert tok.text_length("x" * 50) == 50


@pytest.mark.parametrize("bad,match", [
    ([("a", "x"), ("b", "x"), ("", "y")], "empty"),
    ([], "empty"),
    ([("a", "x"), "not a pair"], "pair"),
])
def test_bad_corpora_raise_naming_the_item(bad: list, match: str) -> None:
    with pytest.raises(arkit.InputError, match=match):
        TitleIdTokenizer().fit(bad)


def test_duplicate_and_empty_documents_are_refused() -> None:
    with pytest.raises(arkit.InputError, match="duplicate document id 'a'"):
        training_pairs([Document("a", "one text"), Document("a", "another")])
    with pytest.raises(arkit.InputError, match="document 'b' is empty"):
        training_pairs([Document("a", "one text"), Document("b", "   ")])
    with pytest.raises(arkit.InputError, match="empty"):
        training_pairs([])


def test_unknown_ids_are_refused() -> None:
    tok = _fitted(TitleIdTokenizer)
    with pytest.raises(arkit.InputError, match="unknown document id 'nope'"):
        tok.encode(("text", "nope"))


class TestTitleIdsContract(TokenizerContract):
    component = "retrieval/title-ids"
    config = _fitted(TitleIdTokenizer).config
    items = st.one_of(st.text(max_size=40), st.tuples(st.text(max_size=40), st.sampled_from(IDS)))
    invalid_items = st.one_of(st.integers(), st.tuples(st.text(max_size=5), st.just("not.an.id")))


class TestSemanticIdsContract(TokenizerContract):
    component = "retrieval/semantic-ids"
    config = _fitted(SemanticIdTokenizer, branching=2, leaf_size=2).config
    items = st.tuples(st.text(max_size=40), st.sampled_from(IDS))


class TestAtomicIdsContract(TokenizerContract):
    component = "retrieval/atomic-ids"
    config = _fitted(AtomicIdTokenizer).config
    items = st.tuples(st.text(max_size=40), st.sampled_from(IDS))
