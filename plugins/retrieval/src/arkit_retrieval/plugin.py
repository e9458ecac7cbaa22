"""The module the ``arkit`` entry point names: hook implementations only (cheap to import).

Components are registered by import path, so that listing them (``arkit plugins``) imports no torch.
"""

from __future__ import annotations

import arkit
from arkit.hookspecs import CommandRegister, ComponentRegister

_QUERIES = ("Return the number of days in a month.", "", "Ünïcödé query")


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``retrieval/title-ids``, ``retrieval/semantic-ids``, ``retrieval/atomic-ids``; examples are queries."""
    register("retrieval/title-ids", "arkit_retrieval.ids:TitleIdTokenizer",
             description="text -> a document's own dotted name, as segments or characters (GENRE)", examples=_QUERIES)
    register("retrieval/semantic-ids", "arkit_retrieval.ids:SemanticIdTokenizer",
             description="text -> hierarchical k-means codes of TF-IDF+SVD document vectors (DSI, TIGER)",
             examples=_QUERIES)
    register("retrieval/atomic-ids", "arkit_retrieval.ids:AtomicIdTokenizer",
             description="text -> one token per document (small corpora, a baseline)", examples=_QUERIES)


@arkit.hookimpl
def arkit_register_heads(register: ComponentRegister) -> None:
    """``retrieval/id-head``: logits, trained on the id part of each sequence."""
    register("retrieval/id-head", "arkit_retrieval.head:IdHead",
             description="categorical logits; training loss on the document-id positions")


@arkit.hookimpl
def arkit_register_constraints(register: ComponentRegister) -> None:
    """``retrieval/id-trie`` (every valid id, marisa-trie) and ``retrieval/substring`` (any corpus n-gram, SEAL)."""
    register("retrieval/id-trie", "arkit_retrieval.trie:IdTrieConstraint",
             description="prefix trie over every valid id token sequence, stored in a marisa-trie (GENRE)")
    register("retrieval/substring", "arkit_retrieval.substring:SubstringConstraint",
             description="any n-gram of a token corpus, from a suffix array (SEAL)")


@arkit.hookimpl
def arkit_register_drafters(register: ComponentRegister) -> None:
    """``retrieval/datastore``: drafts looked up in a suffix array over a corpus (REST)."""
    register("retrieval/datastore", "arkit_retrieval.datastore:DatastoreDrafter",
             description="continuations of the context's longest suffix found in a corpus suffix array (REST)")


@arkit.hookimpl
def arkit_register_commands(register: CommandRegister) -> None:
    """``arkit retrieval demo|eval|search|bench``."""
    register("retrieval", "arkit_retrieval.cli:run", help="generative retrieval: demo, eval, search, bench",
             arguments="arkit_retrieval.cli:arguments")  # imported only when the command is used
