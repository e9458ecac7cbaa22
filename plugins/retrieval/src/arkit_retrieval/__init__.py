"""arkit-retrieval: generative retrieval with identifiers that always exist, and a corpus-backed drafter."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .bm25 import BM25
    from .corpus import Document, QuerySplit, pydoc_topics, sentences, split_queries, stdlib_docs, unicode_names
    from .datastore import DatastoreDrafter
    from .head import IdHead
    from .ids import AtomicIdTokenizer, SemanticIdTokenizer, TitleIdTokenizer
    from .metrics import hits_at, mrr_at
    from .presets import pretrained_retriever
    from .retriever import QueryTruncatedWarning, Retriever
    from .substring import SubstringConstraint, score_passages
    from .suffix_index import SuffixIndex
    from .training import build_pipeline, training_pairs
    from .trie import IdTrieConstraint

__all__ = ["BM25", "AtomicIdTokenizer", "DatastoreDrafter", "Document", "IdHead", "IdTrieConstraint",
           "QueryTruncatedWarning", "QuerySplit", "Retriever", "SemanticIdTokenizer", "SubstringConstraint",
           "SuffixIndex", "TitleIdTokenizer", "build_pipeline", "hits_at", "mrr_at", "pretrained_retriever",
           "pydoc_topics", "score_passages", "sentences", "split_queries", "stdlib_docs", "training_pairs",
           "unicode_names"]
__version__ = "0.1.0.dev0"


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "BM25": ".bm25",
    "Document": ".corpus",
    "QuerySplit": ".corpus",
    "pydoc_topics": ".corpus",
    "sentences": ".corpus",
    "split_queries": ".corpus",
    "stdlib_docs": ".corpus",
    "unicode_names": ".corpus",
    "DatastoreDrafter": ".datastore",
    "IdHead": ".head",
    "AtomicIdTokenizer": ".ids",
    "SemanticIdTokenizer": ".ids",
    "TitleIdTokenizer": ".ids",
    "hits_at": ".metrics",
    "mrr_at": ".metrics",
    "pretrained_retriever": ".presets",
    "QueryTruncatedWarning": ".retriever",
    "Retriever": ".retriever",
    "SubstringConstraint": ".substring",
    "score_passages": ".substring",
    "SuffixIndex": ".suffix_index",
    "build_pipeline": ".training",
    "training_pairs": ".training",
    "IdTrieConstraint": ".trie",
}


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
