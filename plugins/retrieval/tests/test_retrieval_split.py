"""The docstring split: every known-item query is trained on; test and validation sentences never are."""

from __future__ import annotations

from hypothesis import given, strategies as st

from arkit_retrieval import Document, sentences, split_queries, stdlib_docs, training_pairs

_word = st.text("abcdefgh", min_size=1, max_size=8)
_sentence = st.builds(lambda first, words, end: " ".join([first.capitalize(), *words]) + end,
                      _word, st.lists(_word, min_size=3, max_size=8), st.sampled_from([".", "!", "", ":"]))


@given(st.lists(_sentence, min_size=1, max_size=8), st.sampled_from(["\n\n", "\n", " ", "\n   \n"]))
def test_split_keeps_every_indexed_sentence_a_training_pair(parts: list[str], sep: str) -> None:
    doc = Document("m.f", sep.join(parts))
    split = split_queries([doc], seed=0)
    (indexed,) = split.indexed
    assert sentences(indexed.text) == [s for s in sentences(doc.text)
                                       if s not in {q for q, _ in split.held_out + split.validation}]
    trained = {t for t, _ in training_pairs([indexed])}
    assert all(q in trained for q, _ in split.known_item)


def test_the_docstring_split_separates_test_validation_and_training() -> None:
    docs = stdlib_docs()[::7]
    split = split_queries(docs, seed=0)
    pairs = set(training_pairs(split.indexed))
    assert split.known_item and split.held_out and split.validation
    assert all(p in pairs for p in split.known_item)
    own = {d.doc_id: set(sentences(d.text)) for d in split.indexed}
    for query, doc_id in split.held_out + split.validation:
        assert query not in own[doc_id]
    assert not set(split.held_out) & set(split.validation)

