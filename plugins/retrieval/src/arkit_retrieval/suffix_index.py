"""A suffix array over a tokenised corpus (``pydivsufsort``): n-gram lookup, counts and continuations.

The corpus is a list of documents (token-id lists) concatenated with a separator
that no n-gram crosses. Tokens are stored shifted by one so that the separator
is 0. :meth:`SuffixIndex.find` gives the suffix-array range of an n-gram, from
which follow its count (``hi - lo``), its positions and what comes after it.
Both :class:`~arkit_retrieval.SubstringConstraint` (SEAL) and
:class:`~arkit_retrieval.DatastoreDrafter` (REST) read one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arkit import ConfigError

__all__ = ["SuffixIndex"]


class SuffixIndex:
    """Suffix array over ``documents`` (lists of token ids ``>= 0``)."""

    def __init__(self, documents: Sequence[Sequence[int]]) -> None:
        import pydivsufsort

        if not documents:
            raise ConfigError("a suffix index needs at least one document")
        pieces, starts, pos = [], [], 0
        for i, doc in enumerate(documents):
            ids = np.asarray(list(doc), dtype=np.int64)
            if ids.size == 0:
                raise ConfigError(f"document {i} of the suffix index is empty")
            if ids.min() < 0 or ids.max() >= 2**31 - 2:
                raise ConfigError(f"document {i} has token ids outside [0, 2**31 - 2)")
            starts.append(pos)
            pieces.append(ids + 1)
            pieces.append(np.zeros(1, dtype=np.int64))
            pos += ids.size + 1
        self.text = np.concatenate(pieces).astype(np.int32)  # shifted tokens, 0 after each document
        self.starts = np.asarray(starts, dtype=np.int64)
        self.sa = np.asarray(pydivsufsort.divsufsort(self.text), dtype=np.int64)
        self.num_documents = len(documents)

    def __len__(self) -> int:
        return int(self.text.size)

    def column(self, lo: int, hi: int, depth: int) -> np.ndarray:
        """Shifted tokens at offset ``depth`` of the suffixes ``sa[lo:hi]`` (0 past the end); sorted."""
        pos = self.sa[lo:hi] + depth
        out = np.zeros(hi - lo, dtype=np.int32)
        inside = pos < self.text.size
        out[inside] = self.text[pos[inside]]
        return out

    def narrow(self, lo: int, hi: int, depth: int, token: int) -> tuple[int, int]:
        """The sub-range of ``sa[lo:hi]`` (suffixes sharing ``depth`` tokens) whose next token is ``token``."""
        col = self.column(lo, hi, depth)
        shifted = token + 1
        return lo + int(np.searchsorted(col, shifted, "left")), lo + int(np.searchsorted(col, shifted, "right"))

    def find(self, ngram: Sequence[int]) -> tuple[int, int]:
        """Suffix-array range ``[lo, hi)`` of the suffixes that start with ``ngram`` (empty: ``lo == hi``)."""
        lo, hi = 0, len(self.sa)
        for depth, token in enumerate(ngram):
            if token < 0:
                return 0, 0
            lo, hi = self.narrow(lo, hi, depth, int(token))
            if lo >= hi:
                return lo, lo
        return lo, hi

    def count(self, ngram: Sequence[int]) -> int:
        """Occurrences of ``ngram`` in the corpus."""
        lo, hi = self.find(ngram)
        return hi - lo

    def documents_of(self, lo: int, hi: int) -> np.ndarray:
        """The document index of each occurrence in ``sa[lo:hi]``."""
        return np.searchsorted(self.starts, self.sa[lo:hi], side="right") - 1

    def continuation(self, position: int, k: int) -> list[int]:
        """Up to ``k`` tokens starting at corpus ``position``, stopping at the end of its document."""
        piece = self.text[position: position + k]
        end = np.flatnonzero(piece == 0)
        if end.size:
            piece = piece[: end[0]]
        return (piece.astype(np.int64) - 1).tolist()
