"""The BM25 baseline every retrieval paper prints, from ``bm25s`` (Lucene's BM25 variant).

Text is lower-cased and split into words of two or more word characters
(``bm25s.tokenize``), English stop words removed, no stemming; ``k1`` 1.5,
``b`` 0.75. Scores: ``sum over query terms t of idf(t) * tf / (tf + k1 (1 - b + b |d| / avgdl))``
with ``idf(t) = log(1 + (N - df + 0.5) / (df + 0.5))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .corpus import Document
from .ids import check_documents

__all__ = ["BM25"]


class BM25:
    """``index(documents)``, then ``search(queries, k)`` -> ranked ``(doc_id, score)`` lists."""

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, stopwords: str | None = "en") -> None:
        self.k1, self.b, self.stopwords = float(k1), float(b), stopwords
        self._model = None
        self.ids: list[str] = []

    def index(self, documents: Sequence[Document]) -> BM25:
        import bm25s

        check_documents([d.doc_id for d in documents], [d.text for d in documents])
        self.ids = [d.doc_id for d in documents]
        tokens = bm25s.tokenize([d.text for d in documents], stopwords=self.stopwords, show_progress=False)
        self._model = bm25s.BM25(k1=self.k1, b=self.b)
        self._model.index(tokens, show_progress=False)
        return self

    def search(self, queries: Sequence[str], k: int = 10) -> list[list[tuple[str, float]]]:
        import bm25s

        if self._model is None:
            raise RuntimeError("call index(documents) before search")
        k = min(k, len(self.ids))
        tokens = bm25s.tokenize(list(queries), stopwords=self.stopwords, show_progress=False, return_ids=False)
        docs, scores = self._model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        out = []
        for row_docs, row_scores in zip(np.asarray(docs), np.asarray(scores)):
            out.append([(self.ids[int(d)], float(s)) for d, s in zip(row_docs, row_scores)])
        return out
