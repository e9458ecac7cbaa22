"""``retrieval/datastore``: REST-style drafting, continuations looked up in a corpus.

For each row, the longest suffix of its context (``max_ngram`` tokens down to
``min_ngram``) is looked up in a :class:`~arkit_retrieval.SuffixIndex` over a
token corpus; among its first ``max_matches`` occurrences the most frequent
``k``-token continuation (never crossing a document's end) is the draft. A row
whose suffix occurs nowhere proposes nothing. The target verifies drafts with
the pipeline's acceptance rule (``core/exact`` by default), so the output is the
one plain decoding gives: drafting only saves target calls when outputs quote the corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import torch

import arkit
from arkit import ConfigError

from .suffix_index import SuffixIndex

__all__ = ["DatastoreDrafter"]


class DatastoreDrafter:
    """Draft the corpus's most common continuation of each row's longest matching suffix."""

    def __init__(self, *, documents: Sequence[Sequence[int]], max_ngram: int = 8, min_ngram: int = 2,
                 max_matches: int = 64) -> None:
        for name, value in (("max_ngram", max_ngram), ("min_ngram", min_ngram), ("max_matches", max_matches)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"datastore {name} must be an integer >= 1, got {value!r}")
        if min_ngram > max_ngram:
            raise ConfigError(f"datastore min_ngram ({min_ngram}) exceeds max_ngram ({max_ngram})")
        self.documents = [[int(t) for t in d] for d in documents]
        self.index = SuffixIndex(self.documents)
        self.max_ngram, self.min_ngram, self.max_matches = max_ngram, min_ngram, max_matches

    @property
    def config(self) -> Mapping[str, Any]:
        return {"documents": self.documents, "max_ngram": self.max_ngram, "min_ngram": self.min_ngram,
                "max_matches": self.max_matches}

    def _draft(self, context: list[int], k: int) -> list[int]:
        for n in range(min(self.max_ngram, len(context)), self.min_ngram - 1, -1):
            lo, hi = self.index.find(context[-n:])
            if hi <= lo:
                continue
            ends = self.index.sa[lo: min(hi, lo + self.max_matches)] + n
            options = Counter(tuple(self.index.continuation(int(p), k)) for p in ends)
            best = min(options.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            if best:
                return list(best)
        return []

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        rows = []
        for row in tokens.tolist():
            context = [t for t in row if t >= 0]
            rows.append(self._draft(context, k))
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        drafted = torch.zeros(len(rows), k, dtype=torch.long)
        for i, r in enumerate(rows):
            if r:
                drafted[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        return arkit.Draft(tokens=drafted.to(tokens.device), lengths=lengths.to(tokens.device))
