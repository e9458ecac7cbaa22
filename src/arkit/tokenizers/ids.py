"""Token ids in, token ids out: the tokenizer of benchmarks and contract tests, for any vocabulary size.

Not registered by the built-in plugin: :func:`arkit.testing.register_id_tokenizer` registers
:class:`IdsPlugin` while a block runs (saving a pipeline names its tokenizer ``ids/ids``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..hookspecs import hookimpl

__all__ = ["NAME", "IdTokenizer", "IdsPlugin"]

NAME = "ids/ids"


class IdTokenizer:
    """Items are already lists of ids; ``pad`` is id 0."""

    lossless = True

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.special_tokens: dict[str, int] = {"pad": 0}

    @property
    def config(self) -> Mapping[str, Any]:
        return {"vocab_size": self.vocab_size}

    def encode(self, item: Any) -> list[int]:
        return [int(t) for t in item]

    def decode(self, ids: Any) -> list[int]:
        return [int(t) for t in ids]


class IdsPlugin:
    """The plugin that registers :class:`IdTokenizer` as ``ids/ids`` (in the shared ``ids`` namespace)."""

    arkit_extends = ("ids",)  # registered under an owner's plugin name, into the shared "ids" namespace

    @hookimpl
    def arkit_register_tokenizers(self, register: Any) -> None:
        register(NAME, IdTokenizer, description="Token ids in, token ids out (benchmarks and tests only).")
