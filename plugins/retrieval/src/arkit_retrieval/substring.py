"""``retrieval/substring``: SEAL's constraint, any n-gram of a corpus is a valid output.

Backed by a :class:`~arkit_retrieval.SuffixIndex`: a state is the suffix-array
range of the n-gram generated so far and its length, ``(lo, hi, depth)``; the
allowed tokens are the distinct tokens that follow it somewhere in the corpus.
A row may end (``eos``) after ``min_length`` tokens and stops at ``max_length``.
With ``vocab_size`` set, ``allowed`` returns a ``BoolTensor[vocab_size]`` mask.
:func:`score_passages` then ranks documents from the generated n-grams with
SEAL's n-gram score, which rewards n-grams likely under the model yet rare in
the corpus.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
import math
from typing import Any

import numpy as np
import torch

from arkit import ConfigError

from .suffix_index import SuffixIndex

__all__ = ["SubstringConstraint", "score_passages"]


class SubstringConstraint:
    """Allow exactly the n-grams of ``documents`` (token-id lists), ``min_length`` to ``max_length`` long."""

    def __init__(self, *, documents: Sequence[Sequence[int]], eos_token_id: int | None = None, min_length: int = 1,
                 max_length: int = 16, vocab_size: int | None = None) -> None:
        if not isinstance(min_length, int) or not isinstance(max_length, int) or not 1 <= min_length <= max_length:
            raise ConfigError(f"need 1 <= min_length <= max_length, got {min_length!r} and {max_length!r}")
        self.documents = [[int(t) for t in d] for d in documents]
        if eos_token_id is not None and any(eos_token_id in d for d in self.documents):
            raise ConfigError(f"the corpus contains the eos id {eos_token_id}: it cannot also end n-grams")
        self.index = SuffixIndex(self.documents)
        self.eos_token_id = None if eos_token_id is None else int(eos_token_id)
        self.min_length, self.max_length = min_length, max_length
        top = max([max(d) for d in self.documents] + [self.eos_token_id or 0])
        if vocab_size is not None and not (isinstance(vocab_size, int) and vocab_size > top):
            raise ConfigError(f"vocab_size must be an int above every id (largest {top}), got {vocab_size!r}")
        self.vocab_size = vocab_size
        self._next = lru_cache(maxsize=4096)(self._next_tokens)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"documents": self.documents, "eos_token_id": self.eos_token_id, "min_length": self.min_length,
                "max_length": self.max_length, "vocab_size": self.vocab_size}

    def _next_tokens(self, lo: int, hi: int, depth: int) -> tuple[int, ...]:
        col = self.index.column(lo, hi, depth)
        distinct = np.unique(col)
        return tuple(int(t) - 1 for t in distinct if t > 0)

    def start(self) -> tuple[int, int, int]:
        return 0, len(self.index.sa), 0

    def allowed(self, state: tuple[int, int, int]) -> list[int] | torch.Tensor:
        lo, hi, depth = state
        ids = list(self._next(lo, hi, depth)) if depth < self.max_length else []
        if self.eos_token_id is not None and self.complete(state):
            ids.append(self.eos_token_id)
        if self.vocab_size is None:
            return ids
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[ids] = True
        return mask

    def advance(self, state: tuple[int, int, int], token: int) -> tuple[int, int, int]:
        lo, hi, depth = state
        if token == self.eos_token_id and self.complete(state):
            return state
        lo, hi = self.index.narrow(lo, hi, depth, int(token))
        return lo, hi, depth + 1

    def complete(self, state: tuple[int, int, int]) -> bool:
        lo, hi, depth = state
        return depth >= self.min_length and hi > lo

    def count(self, state: tuple[int, int, int]) -> int:
        """How often the n-gram of ``state`` occurs in the corpus."""
        return state[1] - state[0]


def score_passages(index: SuffixIndex, ngrams: Sequence[tuple[Sequence[int], float]], k: int = 10) -> list[tuple[int, float]]:
    """Rank documents by SEAL's score of the generated ``(ngram, log_prob)`` pairs they contain.

    Each distinct n-gram ``n`` scores ``max(0, log(P(n|q) (1 - P(n)) / (P(n) (1 - P(n|q)))))``,
    with ``P(n)`` its corpus frequency; a document's score is the sum over the
    n-grams it contains (each n-gram counted once). Returns ``(document index, score)``, best first.
    """
    total = max(len(index), 1)
    scores: dict[int, float] = {}
    seen: set[tuple[int, ...]] = set()
    for ngram, logprob in ngrams:
        key = tuple(int(t) for t in ngram)
        if not key or key in seen:
            continue
        seen.add(key)
        lo, hi = index.find(key)
        if hi <= lo:
            continue
        p_corpus = (hi - lo) / total
        p_model = min(math.exp(logprob), 1 - 1e-6)
        weight = max(0.0, math.log(p_model * (1 - p_corpus) / (p_corpus * (1 - p_model))))
        for doc in set(index.documents_of(lo, hi).tolist()):
            scores[doc] = scores.get(doc, 0.0) + weight
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
