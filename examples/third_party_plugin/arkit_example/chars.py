"""A character tokenizer with an alphabet learned from data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import arkit


class CharTokenizer:
    """One id per character of ``alphabet``, then ``bos``, ``eos`` and ``pad``.

    Lossless on strings over the alphabet; other characters raise
    :class:`arkit.InputError` naming the first one.
    """

    lossless = True

    def __init__(self, *, alphabet: str = "abcdefghijklmnopqrstuvwxyz ") -> None:
        if not alphabet or len(set(alphabet)) != len(alphabet):
            raise arkit.ConfigError("the alphabet must be a non-empty string of distinct characters")
        self.alphabet = alphabet
        self._index = {ch: i for i, ch in enumerate(alphabet)}
        n = len(alphabet)
        self.special_tokens: Mapping[str, int] = {"bos": n, "eos": n + 1, "pad": n + 2}
        self.vocab_size = n + 3

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharTokenizer:
        """Learn the alphabet: every character that occurs in ``texts``, sorted."""
        return cls(alphabet="".join(sorted({ch for text in texts for ch in text})))

    @property
    def config(self) -> Mapping[str, Any]:
        return {"alphabet": self.alphabet}

    def encode(self, item: str) -> list[int]:
        if not isinstance(item, str):
            raise arkit.InputError(f"example/chars encodes str, got {type(item).__name__}")
        try:
            return [self._index[ch] for ch in item]
        except KeyError as exc:
            raise arkit.InputError(
                f"character {exc.args[0]!r} is not in the tokenizer's alphabet; learn it from data that contains it"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        n = len(self.alphabet)
        return "".join(self.alphabet[i] for i in map(int, ids) if 0 <= i < n)
