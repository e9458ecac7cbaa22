"""The retriever users expect: ``index(documents)``, then ``search(queries, k)``.

A :class:`Retriever` wraps a pipeline whose tokenizer is an id tokenizer
(``retrieval/title-ids``, ``semantic-ids`` or ``atomic-ids``). ``index`` trains it
(DSI: indexing and retrieval pairs through :meth:`arkit.Pipeline.fit`);
``search`` runs beam search constrained by the id trie, so every result is a
document, scored by its beam log-probability (the sum of constrained token
log-probabilities, ``length_penalty`` 0). ``score`` gives the same
log-probability for given candidates (teacher-forced, one prefill per query),
which the hybrid uses to rerank BM25's top 100.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
from typing import Any
import warnings

import torch

import arkit
from arkit import ArkitWarning, InputError

from .corpus import Document
from .ids import check_documents
from .trie import IdTrieConstraint

__all__ = ["QueryTruncatedWarning", "Retriever"]


class QueryTruncatedWarning(ArkitWarning):
    """A query had more text tokens than the model reads; only its beginning was used."""


class Retriever:
    """Generative retrieval over one pipeline: constrained beam search over its document ids."""

    def __init__(self, pipeline: arkit.Pipeline, *, num_beams: int = 10) -> None:
        tok = pipeline.tokenizer
        if not all(hasattr(tok, a) for a in ("sequences", "doc_id_of", "id_tokens")):
            raise arkit.ConfigError(f"a Retriever needs an id tokenizer (retrieval/title-ids, ...), got {type(tok).__name__}")
        self.pipeline = pipeline
        self.num_beams = int(num_beams)
        self._trie: IdTrieConstraint | None = None

    # -- building --------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str], **kwargs: Any) -> Retriever:
        """Load a retriever saved with :meth:`save_pretrained` (a pipeline folder)."""
        folder = Path(path)
        if not (folder / "pipeline.json").is_file():
            raise InputError(f"{folder} is not a saved pipeline folder (no pipeline.json); "
                             f"save one with Retriever.save_pretrained or Pipeline.save_pretrained")
        return cls(arkit.Pipeline.from_pretrained(folder), **kwargs)

    def save_pretrained(self, path: str | os.PathLike[str]) -> Path:
        return self.pipeline.save_pretrained(path)

    @property
    def ids(self) -> list[str]:
        return list(self.pipeline.tokenizer.ids)

    @property
    def trie(self) -> IdTrieConstraint:
        """The constraint over every indexed id (built once)."""
        if self._trie is None:
            self._trie = IdTrieConstraint.from_tokenizer(self.pipeline.tokenizer)
        return self._trie

    def index(self, documents: Sequence[Document], **train: Any) -> arkit.TrainResult:
        """Train the model on ``documents`` (their sentences and openings -> their ids) with ``Pipeline.fit``.

        ``train`` are :class:`arkit.TrainConfig` fields (``steps``, ``batch_size``...).
        The tokenizer must already know the ids (build the pipeline with
        :func:`arkit_retrieval.build_pipeline`) or be unfitted, in which case it learns them here.
        """
        from .training import training_pairs

        check_documents([d.doc_id for d in documents], [d.text for d in documents])
        pairs = training_pairs(documents)
        tok = self.pipeline.tokenizer
        if tok.fitted:
            unknown = [d.doc_id for d in documents if d.doc_id not in set(tok.ids)]
            if unknown:
                raise InputError(f"document id {unknown[0]!r} is not in the tokenizer's id vocabulary; "
                                 f"build a new pipeline for a new corpus (arkit_retrieval.build_pipeline)")
        defaults = {"overflow": "truncate", "progress": False, "seq_len": min(256, self.pipeline.backbone.max_seq_len)}
        result = self.pipeline.fit(pairs, **{**defaults, **train})
        self._trie = None
        return result

    # -- queries ---------------------------------------------------------------------
    def _check_queries(self, queries: Sequence[str]) -> list[str]:
        if isinstance(queries, str):
            queries = [queries]
        out, cut = [], []
        tok = self.pipeline.tokenizer
        for i, q in enumerate(queries):
            if not isinstance(q, str) or not q.strip():
                raise InputError(f"query {i} is empty or not a string: {q!r}")
            if tok.text_length(q) > tok.max_text_tokens:
                cut.append(i)
            out.append(q)
        if cut:
            warnings.warn(f"{len(cut)} of {len(out)} queries (query {cut[0]}: {out[cut[0]][:40]!r}...) have more than "
                          f"{tok.max_text_tokens} text tokens; the model reads the first {tok.max_text_tokens} of each "
                          f"and ignores the rest", QueryTruncatedWarning, stacklevel=3)
        return out

    def search(self, queries: Sequence[str], k: int = 10, *, constrained: bool = True,
               num_beams: int | None = None, batch_size: int = 16) -> list[list[tuple[str | None, float]]]:
        """The ``k`` best documents per query as ``(doc_id, log-probability)``, best first.

        With ``constrained=False`` beams may spell ids that name no document; those
        come back as ``(None, score)`` (the invalid-id rate of the unconstrained model).
        """
        queries = self._check_queries(queries)
        beams = max(k, num_beams or self.num_beams)
        tok = self.pipeline.tokenizer
        longest = max(len(s) for s in tok.sequences()) + 1
        results: list[list[tuple[str | None, float]]] = []
        for start in range(0, len(queries), batch_size):
            chunk = queries[start: start + batch_size]
            constraint = self.trie if constrained else None
            if beams == 1:  # greedy: the score is the sum of the chosen tokens' log-probabilities
                out = self.pipeline.generate(chunk, max_new_tokens=longest, constraint=constraint, output_logprobs=True)
                scores = [sum(lp) for lp in out.logprobs]
            else:
                out = self.pipeline.generate(chunk, num_beams=beams, num_return_sequences=k, length_penalty=0.0,
                                             max_new_tokens=longest, constraint=constraint)
                scores = list(out.scores)
            for i in range(len(chunk)):
                rows = range(i * k, (i + 1) * k)
                results.append([(tok.doc_id_of(out.sequences[r]), float(scores[r])) for r in rows])
        return results

    @torch.inference_mode()
    def score(self, query: str, candidates: Sequence[str]) -> list[float]:
        """Log-probability of each candidate id given ``query`` under the trie constraint (teacher-forced).

        One prefill of the query; the candidates then run as a batch on copies of its cache.
        Unknown ids raise :class:`arkit.InputError` naming them.
        """
        (query,) = self._check_queries([query])
        if not candidates:
            return []
        pipe, tok = self.pipeline, self.pipeline.tokenizer
        eos = tok.special_tokens["eos"]
        seqs = [tok.id_tokens(c) + [eos] for c in candidates]  # raises on an unknown id
        prompt = torch.tensor([pipe.encode(query)])
        backbone, head = pipe.backbone.eval(), pipe.head.eval()
        length = max(len(s) for s in seqs)
        cache = arkit.create("cache", "core/dynamic")
        cache.allocate(backbone.cache_spec(), batch_size=1, max_len=prompt.shape[1] + length, dtype=torch.float32,
                       device="cpu")
        hidden = backbone(prompt, positions=torch.arange(prompt.shape[1])[None], cache=cache)
        first = head(hidden[:, -1]).float()  # [1, V]
        cache.reorder(torch.zeros(len(seqs), dtype=torch.long))
        ids = torch.full((len(seqs), length), eos, dtype=torch.long)
        for r, s in enumerate(seqs):
            ids[r, : len(s)] = torch.tensor(s)
        positions = prompt.shape[1] + torch.arange(length - 1)[None].expand(len(seqs), -1)
        rest = head(backbone(ids[:, :-1], positions=positions, cache=cache)).float() if length > 1 else None
        trie = self.trie
        scores = []
        for r, s in enumerate(seqs):
            state, total = trie.start(), 0.0
            for j, token in enumerate(s):
                logits = first[0] if j == 0 else rest[r, j - 1]
                allowed = trie.allowed(state)
                total += float(logits[token] - torch.logsumexp(logits[allowed], 0))
                state = trie.advance(state, token)
            scores.append(total)
        return scores
