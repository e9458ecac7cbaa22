"""Document-identifier tokenizers: query or document text in, a document id out.

One sequence is ``[bos] text... [sep] id... [eos]``: the text side is bytes, or a
byte-level BPE learned from the corpus (``tokenizers``); the id side spells the
document identifier in one of three ways, each its own registered tokenizer:

- ``retrieval/title-ids`` (GENRE): the document's own name, as dotted segments
  (``calendar`` ``Calendar`` ``itermonthdays``) or characters. Dotted names are
  hierarchical by nature: documents of one module share a prefix.
- ``retrieval/semantic-ids`` (DSI, TIGER): hierarchical k-means over TF-IDF + SVD
  vectors of the documents; similar documents share code prefixes; the last code
  tells apart documents of one leaf cluster.
- ``retrieval/atomic-ids``: one token per document (small corpora, a baseline).

Ids are ``[0, n_text)`` text tokens, then ``bos``, ``sep``, ``eos``, ``pad``, then
the id tokens. ``encode(text)`` gives a query prompt (text then ``sep``);
``encode((text, doc_id))`` a training pair. ``decode`` returns the identifier the
id tokens spell (text tokens and specials are skipped), so a generated id decodes
to a string; whether it names a real document is :meth:`doc_id_of`'s answer.
Text longer than ``max_text_tokens`` keeps its first ``max_text_tokens`` tokens
(:class:`~arkit_retrieval.Retriever` warns when a query is cut).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
import json
from typing import Any

from arkit import ConfigError, InputError

__all__ = ["AtomicIdTokenizer", "SemanticIdTokenizer", "TitleIdTokenizer"]

_SPECIALS = ("bos", "sep", "eos", "pad")


def _check_int(name: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _pairs(items: Iterable[Any]) -> list[tuple[str, str]]:
    pairs = []
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise InputError(f"training item {i} must be a (text, doc_id) pair of strings, got {item!r}")
        pairs.append(item)
    if not pairs:
        raise InputError("the corpus is empty: give at least one (text, doc_id) pair")
    return pairs


def check_documents(ids: Sequence[str], texts: Sequence[str] | None = None) -> None:
    """Raise :class:`arkit.InputError` naming a duplicate id, an empty id or an empty document."""
    if not ids:
        raise InputError("the corpus is empty: give at least one document")
    seen: set[str] = set()
    for i, doc_id in enumerate(ids):
        if not isinstance(doc_id, str) or not doc_id:
            raise InputError(f"document {i} has an empty or non-string id {doc_id!r}")
        if doc_id in seen:
            raise InputError(f"duplicate document id {doc_id!r} (document {i}): ids must be unique")
        seen.add(doc_id)
        if texts is not None and not (isinstance(texts[i], str) and texts[i].strip()):
            raise InputError(f"document {doc_id!r} is empty: give it some text or leave it out")


class _IdTokenizer:
    """Shared text side and layout; subclasses define how an id becomes id tokens."""

    lossless = False  # text is cut at max_text_tokens, and decode returns only the id
    fitted: bool

    def __init__(self, *, bpe: str | None, text_vocab_size: int, max_text_tokens: int, ids: Sequence[str]) -> None:
        self.text_vocab_size = _check_int("text_vocab_size", text_vocab_size, 256)
        self.max_text_tokens = _check_int("max_text_tokens", max_text_tokens, 1)
        self.bpe = bpe
        self._bpe = None
        if bpe is not None:
            from tokenizers import Tokenizer

            try:
                self._bpe = Tokenizer.from_str(bpe)
            except Exception as exc:  # noqa: BLE001 - a malformed saved vocabulary
                raise ConfigError(f"bpe is not a valid tokenizers JSON vocabulary: {exc}") from None
        self.n_text = self._bpe.get_vocab_size() if self._bpe is not None else 256
        self.special_tokens = {name: self.n_text + i for i, name in enumerate(_SPECIALS)}
        self.id_offset = self.n_text + len(_SPECIALS)
        self.ids = [str(i) for i in ids]
        if self.ids:
            check_documents(self.ids)
        self._index = {d: i for i, d in enumerate(self.ids)}

    # -- text side ------------------------------------------------------------------
    def _text_ids(self, text: str) -> list[int]:
        if self._bpe is not None:
            return self._bpe.encode(text).ids
        return list(text.encode("utf-8"))

    def text_length(self, text: str) -> int:
        """Text tokens of ``text`` before truncation (to tell a user their query was cut)."""
        return len(self._text_ids(text))

    def decode_text(self, ids: Sequence[int]) -> str:
        """The text tokens among ``ids``, as a string."""
        text = [int(i) for i in ids if 0 <= int(i) < self.n_text]
        if self._bpe is not None:
            return self._bpe.decode(text)
        return bytes(text).decode("utf-8", errors="replace")

    def _learn_text(self, texts: list[str]) -> None:
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=self.text_vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(texts, trainer)
        self.bpe = tok.to_str()
        self._bpe = tok
        self.n_text = tok.get_vocab_size()
        self.special_tokens = {name: self.n_text + i for i, name in enumerate(_SPECIALS)}
        self.id_offset = self.n_text + len(_SPECIALS)

    # -- id side (subclasses) -----------------------------------------------------------
    @property
    def num_id_tokens(self) -> int:
        raise NotImplementedError

    def _spell(self, doc_id: str) -> list[int]:
        """Id tokens (relative, ``[0, num_id_tokens)``) of a known document id."""
        raise NotImplementedError

    def _read(self, rel: list[int]) -> str:
        """The identifier that relative id tokens spell (any tokens; never raises)."""
        raise NotImplementedError

    # -- protocol -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.id_offset + self.num_id_tokens

    def id_tokens(self, doc_id: str) -> list[int]:
        """Absolute token ids spelling ``doc_id``; :class:`arkit.InputError` for an id not in the corpus."""
        if doc_id not in self._index:
            raise InputError(f"unknown document id {doc_id!r}: it is not among the tokenizer's {len(self.ids)} ids")
        return [self.id_offset + t for t in self._spell(doc_id)]

    def sequences(self) -> list[list[int]]:
        """Every document's id tokens, in ``ids`` order (what a trie constraint is built from)."""
        return [self.id_tokens(d) for d in self.ids]

    def doc_id_of(self, ids: Sequence[int]) -> str | None:
        """The document named by generated ids, or ``None`` when they name none."""
        name = self.decode(ids)
        if name not in self._index:
            return None
        return name if self.id_tokens(name) == [int(i) for i in ids if int(i) >= self.id_offset] else None

    def encode(self, item: Any) -> list[int]:
        if isinstance(item, str):
            text, doc_id = item, None
        elif isinstance(item, tuple) and len(item) == 2 and all(isinstance(x, str) for x in item):
            text, doc_id = item
        else:
            raise InputError(f"encode takes a query string or a (text, doc_id) pair, got {type(item).__name__}: {item!r:.80}")
        ids = self._text_ids(text)[: self.max_text_tokens] + [self.special_tokens["sep"]]
        if doc_id is not None:
            ids += self.id_tokens(doc_id)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        ids = [int(i) for i in ids]
        rel = [i - self.id_offset for i in ids if self.id_offset <= i < self.vocab_size]
        return self._read(rel)

    def _base_config(self) -> dict[str, Any]:
        return {"bpe": self.bpe, "text_vocab_size": self.text_vocab_size, "max_text_tokens": self.max_text_tokens,
                "ids": list(self.ids)}

    @property
    def fitted(self) -> bool:  # type: ignore[override]
        return bool(self.ids)

    def fit(self, items: Iterable[Any]) -> None:
        """Learn the text BPE (when ``text_vocab_size`` > 256) and the id vocabulary from ``(text, doc_id)`` pairs."""
        pairs = _pairs(items)
        ids = list(dict.fromkeys(d for _, d in pairs))
        if self.text_vocab_size > 256:
            self._learn_text([t for t, _ in pairs])
        texts: dict[str, list[str]] = {}
        for t, d in pairs:
            texts.setdefault(d, []).append(t)
        check_documents(ids, ["\n".join(texts[d]) for d in ids])
        self._learn_ids(ids, texts)
        self.ids = ids
        self._index = {d: i for i, d in enumerate(ids)}

    def _learn_ids(self, ids: list[str], texts: Mapping[str, list[str]]) -> None:
        raise NotImplementedError


class TitleIdTokenizer(_IdTokenizer):
    """GENRE-style ids: the document's name as dotted segments (``unit="segment"``) or characters."""

    def __init__(self, *, ids: Sequence[str] = (), unit: str = "segment", bpe: str | None = None,
                 text_vocab_size: int = 256, max_text_tokens: int = 64, units: Sequence[str] | None = None) -> None:
        if unit not in ("segment", "char"):
            raise ConfigError(f"unit must be 'segment' or 'char', got {unit!r}")
        self.unit = unit
        super().__init__(bpe=bpe, text_vocab_size=text_vocab_size, max_text_tokens=max_text_tokens, ids=ids)
        self.units = list(units) if units is not None else self._units(self.ids)
        self._unit_index = {u: i for i, u in enumerate(self.units)}
        missing = [d for d in self.ids if any(u not in self._unit_index for u in self._split(d))]
        if missing:
            raise ConfigError(f"id {missing[0]!r} uses units missing from `units`")

    def _split(self, doc_id: str) -> list[str]:
        return doc_id.split(".") if self.unit == "segment" else list(doc_id)

    def _units(self, ids: Sequence[str]) -> list[str]:
        return sorted({u for d in ids for u in self._split(d)})

    @property
    def num_id_tokens(self) -> int:
        return max(1, len(self.units))

    def _spell(self, doc_id: str) -> list[int]:
        return [self._unit_index[u] for u in self._split(doc_id)]

    def _read(self, rel: list[int]) -> str:
        parts = [self.units[i] for i in rel if i < len(self.units)]
        return (".".join(parts)) if self.unit == "segment" else "".join(parts)

    def _learn_ids(self, ids: list[str], texts: Mapping[str, list[str]]) -> None:
        self.units = self._units(ids)
        self._unit_index = {u: i for i, u in enumerate(self.units)}

    @property
    def config(self) -> Mapping[str, Any]:
        return {**self._base_config(), "unit": self.unit, "units": list(self.units)}


class AtomicIdTokenizer(_IdTokenizer):
    """One token per document: the id vocabulary is the corpus."""

    def __init__(self, *, ids: Sequence[str] = (), bpe: str | None = None, text_vocab_size: int = 256,
                 max_text_tokens: int = 64) -> None:
        super().__init__(bpe=bpe, text_vocab_size=text_vocab_size, max_text_tokens=max_text_tokens, ids=ids)

    @property
    def num_id_tokens(self) -> int:
        return max(1, len(self.ids))

    def _spell(self, doc_id: str) -> list[int]:
        return [self._index[doc_id]]

    def _read(self, rel: list[int]) -> str:
        return " ".join(self.ids[i] for i in rel if i < len(self.ids))

    def _learn_ids(self, ids: list[str], texts: Mapping[str, list[str]]) -> None:
        pass

    @property
    def config(self) -> Mapping[str, Any]:
        return self._base_config()


class SemanticIdTokenizer(_IdTokenizer):
    """DSI/TIGER-style ids: hierarchical k-means codes over TF-IDF + SVD document vectors.

    Each level clusters the documents of one parent cluster into at most
    ``branching`` groups; clusters of at most ``leaf_size`` documents stop, and
    their documents get a final position code. Level ``l``'s code ``c`` is its own
    token, so a sequence reads ``(level-0 code, level-1 code, ..., position)``.
    """

    def __init__(self, *, ids: Sequence[str] = (), codes: Sequence[Sequence[int]] = (), branching: int = 16,
                 leaf_size: int = 16, dims: int = 64, seed: int = 0, bpe: str | None = None,
                 text_vocab_size: int = 256, max_text_tokens: int = 64) -> None:
        self.branching = _check_int("branching", branching, 2)
        self.leaf_size = _check_int("leaf_size", leaf_size, 1)
        self.dims = _check_int("dims", dims, 2)
        self.seed = int(seed)
        super().__init__(bpe=bpe, text_vocab_size=text_vocab_size, max_text_tokens=max_text_tokens, ids=ids)
        self.codes = [tuple(int(c) for c in code) for code in codes]
        if len(self.codes) != len(self.ids):
            raise ConfigError(f"semantic ids need one code per id: {len(self.ids)} ids, {len(self.codes)} codes")
        self._by_code = {c: d for c, d in zip(self.codes, self.ids)}
        if len(self._by_code) != len(self.codes):
            raise ConfigError("two documents share one semantic code")

    @property
    def _width(self) -> int:
        return max(self.branching, self.leaf_size)

    @property
    def num_id_tokens(self) -> int:
        depth = max((len(c) for c in self.codes), default=1)
        return depth * self._width

    def _spell(self, doc_id: str) -> list[int]:
        return [level * self._width + c for level, c in enumerate(self.codes[self._index[doc_id]])]

    def _read(self, rel: list[int]) -> str:
        code = tuple(t % self._width for t in rel)
        found = self._by_code.get(code)
        return found if found is not None else "<" + "-".join(str(c) for c in code) + ">"

    def _learn_ids(self, ids: list[str], texts: Mapping[str, list[str]]) -> None:
        import numpy as np
        from sklearn.cluster import KMeans
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = [" ".join(texts[d]) + " " + d.replace(".", " ").replace("_", " ") for d in ids]
        tfidf = TfidfVectorizer(sublinear_tf=True, min_df=1).fit_transform(docs)
        dims = min(self.dims, tfidf.shape[1] - 1, len(ids) - 1)
        vectors = TruncatedSVD(dims, random_state=self.seed).fit_transform(tfidf) if dims >= 2 else tfidf.toarray()
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        codes: list[tuple[int, ...]] = [()] * len(ids)

        def split(members: np.ndarray, prefix: tuple[int, ...]) -> None:
            if len(members) <= self.leaf_size:
                for pos, m in enumerate(members):
                    codes[m] = prefix + (pos,)
                return
            k = min(self.branching, len(members))
            labels = KMeans(k, n_init=3, random_state=self.seed).fit_predict(vectors[members])
            if len(set(labels.tolist())) == 1:  # identical vectors: split by position
                labels = np.arange(len(members)) % k
            for c in range(k):
                sub = members[labels == c]
                if len(sub):
                    split(sub, prefix + (c,))

        split(np.arange(len(ids)), ())
        self.codes = codes
        self._by_code = {c: d for c, d in zip(codes, ids)}

    @property
    def config(self) -> Mapping[str, Any]:
        return {**self._base_config(), "codes": [list(c) for c in self.codes], "branching": self.branching,
                "leaf_size": self.leaf_size, "dims": self.dims, "seed": self.seed}
