"""DSI-style training data and the model recipe of ``retrieval/docstrings``.

One model learns indexing (document text -> id) and retrieval (query -> id) from
``(text, doc_id)`` pairs: every indexed sentence of a document, and the opening
of the whole document, each paired with its id. :meth:`arkit.Pipeline.fit` trains it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arkit

from .corpus import Document, sentences
from .head import IdHead
from .ids import TitleIdTokenizer, check_documents

__all__ = ["MODEL", "build_pipeline", "training_pairs"]

MODEL: dict[str, Any] = {"d_model": 128, "n_layers": 3, "n_heads": 4, "max_seq_len": 256}
"""The backbone of the shipped checkpoint (``core/transformer``)."""


def training_pairs(docs: Sequence[Document]) -> list[tuple[str, str]]:
    """``(text, doc_id)`` pairs: each sentence of each document, and each document's opening."""
    check_documents([d.doc_id for d in docs], [d.text for d in docs])
    pairs: list[tuple[str, str]] = []
    for doc in docs:
        flat = " ".join(doc.text.split())
        pairs.append((flat, doc.doc_id))
        pairs.extend((s, doc.doc_id) for s in sentences(doc.text) if s != flat)
    return pairs


def build_pipeline(pairs: Sequence[tuple[str, str]], *, tokenizer: Any = None, text_vocab_size: int = 2048,
                   max_text_tokens: int = 48, text_weight: float = 0.0, **model: Any) -> arkit.Pipeline:
    """A fresh pipeline for ``pairs``: the tokenizer fitted on them, a ``core/transformer`` and an :class:`IdHead`.

    ``tokenizer`` defaults to segment-level ``retrieval/title-ids``; ``model`` overrides :data:`MODEL`.
    """
    tok = tokenizer if tokenizer is not None else TitleIdTokenizer(text_vocab_size=text_vocab_size,
                                                                   max_text_tokens=max_text_tokens)
    if not tok.fitted:
        tok.fit(pairs)
    dims = {**MODEL, **model}
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, **dims)
    head = IdHead(d_model=dims["d_model"], vocab_size=tok.vocab_size, score_from=tok.special_tokens["sep"],
                  text_weight=text_weight)
    return arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head)
