"""Offline corpora: Python standard-library docstrings, ``pydoc_data`` topics, ``unicodedata`` names.

The docstring corpus is the retrieval benchmark: each document is one public
module, class, function or method of the standard library, named by its dotted
path (``calendar.Calendar.itermonthdays``), with its own docstring as text. It is
built deterministically from :data:`sys.stdlib_module_names` (sorted), skipping
private modules, modules with import-time side effects (GUI, ``this``,
``antigravity``) and modules that fail to import; a docstring that repeats an
earlier one exactly is kept only once, so every text names one document.

Because the standard library differs between Python versions, the plugin ships
the snapshot its checkpoint was trained on (``data/stdlib-docs.json.gz``);
:func:`stdlib_docs` reads it, :func:`build_stdlib_docs` rebuilds from the
running interpreter.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import inspect
import io
import json
from pathlib import Path
import random
import re
import sys
import warnings

import attrs

from arkit import InputError

__all__ = [
    "Document",
    "QuerySplit",
    "build_stdlib_docs",
    "pydoc_topics",
    "sentences",
    "split_queries",
    "stdlib_docs",
    "unicode_names",
]

SNAPSHOT = Path(__file__).parent / "data" / "stdlib-docs.json.gz"

# GUI, easter eggs, interpreter-startup machinery and test suites: importing them opens windows,
# prints, starts browsers or takes long.
_SKIP_PREFIXES = ("antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "test", "lib2to3",
                  "ensurepip", "venv", "pydoc_data", "xxlimited", "xxsubtype", "__phello__", "msvcrt", "winreg",
                  "winsound", "_")


@attrs.frozen
class Document:
    """One document: its identifier and its text."""

    doc_id: str
    text: str


@attrs.frozen
class QuerySplit:
    """Documents split for evaluation (DSI style).

    ``indexed``: the text the model is trained on, per document (the held-out
    sentences removed), its sentences separated by blank lines so that
    :func:`sentences` gives back exactly the indexed sentences. ``known_item``:
    one indexed sentence per document, as a query. ``held_out``: one sentence per
    document with three or more sentences, removed from the indexed text, as a
    query (the reported test set). ``validation``: a second removed sentence per
    document with four or more sentences, never trained on and never reported:
    the split on which anything the eval tunes (the hybrid's fusion weight) is chosen.
    """

    indexed: tuple[Document, ...]
    known_item: tuple[tuple[str, str], ...]
    held_out: tuple[tuple[str, str], ...]
    validation: tuple[tuple[str, str], ...] = ()


def _own_doc(obj: object) -> str | None:
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    return inspect.cleandoc(doc)


def _module_docs(name: str) -> list[tuple[str, str]]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            module = importlib.import_module(name)
        except BaseException:  # noqa: BLE001 - a module that cannot import here is simply not in the corpus
            return []
    found: list[tuple[str, str]] = []
    doc = _own_doc(module)
    if doc:
        found.append((name, doc))
    for attr in sorted(vars(module)):
        obj = vars(module)[attr]
        if attr.startswith("_") or getattr(obj, "__module__", None) != name:
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)):
            continue
        doc = _own_doc(obj)
        if doc:
            found.append((f"{name}.{attr}", doc))
        if inspect.isclass(obj):
            for member in sorted(vars(obj)):
                value = vars(obj)[member]
                if member.startswith("_"):
                    continue
                if isinstance(value, (staticmethod, classmethod)):
                    value = value.__func__
                if not (inspect.isfunction(value) or isinstance(value, property) or inspect.ismethoddescriptor(value)):
                    continue
                doc = _own_doc(value)
                if doc:
                    found.append((f"{name}.{attr}.{member}", doc))
    return found


def build_stdlib_docs() -> list[Document]:
    """Build the docstring corpus from the running interpreter (deterministic for one Python build)."""
    names = sorted(n for n in sys.stdlib_module_names if not n.startswith(_SKIP_PREFIXES))
    seen_text: set[str] = set()
    seen_id: set[str] = set()
    docs: list[Document] = []
    for name in names:
        for doc_id, text in _module_docs(name):
            if text in seen_text or doc_id in seen_id or len(text) < 20:
                continue
            seen_text.add(text)
            seen_id.add(doc_id)
            docs.append(Document(doc_id, text))
    return docs


def stdlib_docs(*, limit: int | None = None) -> list[Document]:
    """The shipped docstring snapshot (the corpus the shipped checkpoint was trained on).

    ``limit`` keeps the first ``limit`` documents (a small subset for tests).
    """
    with gzip.open(SNAPSHOT, "rt", encoding="utf-8") as f:
        rows = json.load(f)["documents"]
    docs = [Document(r["id"], r["text"]) for r in rows]
    return docs[:limit] if limit is not None else docs


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`'\"])|\n\s*\n")


def sentences(text: str, *, min_chars: int = 20) -> list[str]:
    """Split a docstring into sentences (at ``. `` + capital, or blank lines); drop short pieces."""
    parts = (" ".join(p.split()) for p in _SENTENCE_END.split(text))
    return [p for p in parts if len(p) >= min_chars]


def split_queries(docs: list[Document], *, seed: int = 0) -> QuerySplit:
    """Hold out one sentence of each document with three or more sentences (test) and a second one of each
    document with four or more (validation); pick one known-item sentence per document.

    Held-out and validation sentences never appear in the indexed text. Known-item
    queries are drawn from sentences unique to their document (a sentence two
    documents share cannot name one of them). The test and known-item draws use
    ``Random(seed)`` exactly as before the validation split existed (same sentences);
    the validation sentence is then drawn with ``Random(seed + 1)`` among the rest
    (never the summary line, never the known-item sentence).
    """
    rng, val_rng = random.Random(seed), random.Random(seed + 1)
    split = [sentences(d.text) for d in docs]
    counts: dict[str, int] = {}
    for sents in split:
        for s in set(sents):
            counts[s] = counts.get(s, 0) + 1
    indexed, known, held, val = [], [], [], []
    for doc, sents in zip(docs, split):
        keep = list(sents)
        if len(sents) >= 3:
            out = rng.randrange(1, len(sents))  # never the summary line
            held.append((sents[out], doc.doc_id))
            keep = sents[:out] + sents[out + 1:]
        flat = " ".join(doc.text.split())
        unique = [s for s in (keep or [flat]) if counts.get(s, 1) == 1]
        chosen = rng.choice(unique) if unique else None
        if chosen is not None:
            known.append((chosen, doc.doc_id))
        if len(keep) >= 3:
            options = [i for i in range(1, len(keep)) if keep[i] != chosen]
            second = options[val_rng.randrange(len(options))]
            val.append((keep[second], doc.doc_id))
            keep = keep[:second] + keep[second + 1:]
        # Blank lines between sentences: sentences(text) splits them back exactly, so every
        # indexed sentence is a training pair. (Joined by single newlines, paragraphs that did not
        # end in punctuation fused into one long pseudo-sentence, and their known-item queries
        # were never trained on.)
        indexed.append(Document(doc.doc_id, "\n\n".join(keep) if keep else flat))
    return QuerySplit(indexed=tuple(indexed), known_item=tuple(known), held_out=tuple(held), validation=tuple(val))


def pydoc_topics() -> list[Document]:
    """``pydoc_data.topics``: the interpreter's help topics, a passage corpus (about 80 long texts)."""
    from pydoc_data.topics import topics

    return [Document(k, v) for k, v in sorted(topics.items())]


def unicode_names() -> list[str]:
    """Every named character's name in :mod:`unicodedata` (about 138k: a large identifier set)."""
    import unicodedata

    names = []
    for code in range(sys.maxunicode + 1):
        name = unicodedata.name(chr(code), "")
        if name:
            names.append(name)
    if not names:
        raise InputError("unicodedata has no character names in this interpreter")
    return names


def write_snapshot(path: Path = SNAPSHOT) -> int:
    """Rebuild the docstring corpus and write it as the shipped snapshot; returns the document count."""
    docs = build_stdlib_docs()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"python": sys.version.split()[0], "documents": [{"id": d.doc_id, "text": d.text} for d in docs]}
    tmp = path.with_suffix(".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        f.write(json.dumps(payload, ensure_ascii=False, indent=0).encode("utf-8"))
    tmp.replace(path)
    return len(docs)
