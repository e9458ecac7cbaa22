"""A small text corpus for the demo, examples and tests, built offline.

The text is CPython's own help topics (``pydoc_data.topics``, shipped with every
CPython), split into paragraphs. Where that module is missing (some distribution
builds strip it), a deterministic generated corpus of simple sentences stands in.
"""

from __future__ import annotations

import random


def tiny_corpus(max_chars: int = 400_000) -> list[str]:
    """A small English text corpus that needs no download: about ``max_chars`` characters.

    The paragraphs of CPython's help topics (``pydoc_data.topics``), whitespace
    normalised, code samples and headings left out, always in the same order. Where
    that module is missing, generated sentences stand in. Used by ``arkit demo``, the
    examples, the tests and the benchmarks; a byte-level model trained on it for a few
    hundred steps writes recognisably corpus-like text.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return _generated(max_chars)
    documents: list[str] = []
    total = 0
    for name in sorted(topics):
        for paragraph in topics[name].split("\n\n"):
            text = " ".join(paragraph.split())
            if len(text) < 40 or not text[0].isalpha():
                continue  # skip code samples and headings
            documents.append(text)
            total += len(text)
            if total >= max_chars:
                return documents
    return documents


def _generated(max_chars: int) -> list[str]:
    rng = random.Random(0)
    subjects = ["the parser", "a function", "the module", "each object", "the interpreter", "a list"]
    verbs = ["returns", "creates", "reads", "calls", "stores", "raises"]
    objects = ["a new value", "the result", "an exception", "the next item", "a reference", "the default"]
    documents, total = [], 0
    while total < max_chars:
        sentences = [f"{rng.choice(subjects).capitalize()} {rng.choice(verbs)} {rng.choice(objects)}."
                     for _ in range(rng.randint(2, 6))]
        documents.append(" ".join(sentences))
        total += len(documents[-1])
    return documents
