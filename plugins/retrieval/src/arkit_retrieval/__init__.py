"""arkit-retrieval: generative retrieval with identifiers that always exist, and a corpus-backed drafter."""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .bm25 import BM25
    from .corpus import Document, QuerySplit, pydoc_topics, sentences, split_queries, stdlib_docs, unicode_names
    from .datastore import DatastoreDrafter
    from .fusion import FUSION_METHODS, choose_fusion, fuse
    from .head import IdHead
    from .ids import AtomicIdTokenizer, SemanticIdTokenizer, TitleIdTokenizer
    from .metrics import hits_at, mrr_at, paired_comparison
    from .presets import pretrained_retriever
    from .retriever import QueryTruncatedWarning, Retriever
    from .substring import SubstringConstraint, score_passages
    from .suffix_index import SuffixIndex
    from .training import build_pipeline, training_pairs
    from .trie import IdTrieConstraint

__all__ = ["BM25", "FUSION_METHODS", "AtomicIdTokenizer", "DatastoreDrafter", "Document", "IdHead",
           "IdTrieConstraint", "QueryTruncatedWarning", "QuerySplit", "Retriever", "SemanticIdTokenizer",
           "SubstringConstraint", "SuffixIndex", "TitleIdTokenizer", "build_pipeline", "choose_fusion", "fuse",
           "hits_at", "mrr_at", "paired_comparison", "pretrained_retriever", "pydoc_topics", "score_passages", "sentences",
           "split_queries", "stdlib_docs", "training_pairs", "unicode_names"]
__version__ = "0.1.0.dev0"


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "bm25": ["BM25"],
        "corpus": ["Document", "QuerySplit", "pydoc_topics", "sentences", "split_queries", "stdlib_docs", "unicode_names"],
        "datastore": ["DatastoreDrafter"],
        "fusion": ["FUSION_METHODS", "choose_fusion", "fuse"],
        "head": ["IdHead"],
        "ids": ["AtomicIdTokenizer", "SemanticIdTokenizer", "TitleIdTokenizer"],
        "metrics": ["hits_at", "mrr_at", "paired_comparison"],
        "presets": ["pretrained_retriever"],
        "retriever": ["QueryTruncatedWarning", "Retriever"],
        "substring": ["SubstringConstraint", "score_passages"],
        "suffix_index": ["SuffixIndex"],
        "training": ["build_pipeline", "training_pairs"],
        "trie": ["IdTrieConstraint"],
    },
)
