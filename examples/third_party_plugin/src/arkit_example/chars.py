"""``example/chars``: a character tokenizer whose alphabet is learned from data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import arkit

__all__ = ["CharTokenizer"]


class CharTokenizer:
    """One id per character of ``alphabet`` (in order), then ``bos``, ``eos`` and ``pad``.

    The alphabet is the tokenizer's learned state. It is a plain string, so it
    lives in :attr:`config` and is saved and loaded with the pipeline. Build one
    from data with :meth:`from_texts`.

    Lossless on strings over the alphabet; ``encode`` raises
    :class:`arkit.InputError` naming the first character outside it. ``decode``
    skips the special ids and anything else outside the alphabet.
    """

    lossless = True

    def __init__(self, *, alphabet: str = "abcdefghijklmnopqrstuvwxyz ") -> None:
        if not isinstance(alphabet, str) or not alphabet:
            raise arkit.ConfigError(f"alphabet must be a non-empty string, got {alphabet!r}")
        repeated = sorted({ch for ch in alphabet if alphabet.count(ch) > 1})
        if repeated:
            raise arkit.ConfigError(f"alphabet must not repeat characters; repeated: {repeated}")
        self.alphabet = alphabet
        self._index = {ch: i for i, ch in enumerate(alphabet)}
        n = len(alphabet)
        self.special_tokens: Mapping[str, int] = {"bos": n, "eos": n + 1, "pad": n + 2}
        self.vocab_size = n + len(self.special_tokens)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharTokenizer:
        """A tokenizer whose alphabet is every character occurring in ``texts``, sorted.

        Raises :class:`arkit.ConfigError` when ``texts`` contain no character at all.
        """
        alphabet = "".join(sorted({ch for text in texts for ch in text}))
        if not alphabet:
            raise arkit.ConfigError("cannot learn an alphabet from no text: pass at least one non-empty string")
        return cls(alphabet=alphabet)

    @property
    def config(self) -> Mapping[str, Any]:
        """``{"alphabet": ...}``: ``CharTokenizer(**config)`` rebuilds this tokenizer."""
        return {"alphabet": self.alphabet}

    def encode(self, item: str) -> list[int]:
        """The id of every character of ``item``, without ``bos``/``eos``."""
        if not isinstance(item, str):
            raise arkit.InputError(f"example/chars encodes str, got {type(item).__name__}")
        try:
            return [self._index[ch] for ch in item]
        except KeyError as exc:
            position = item.index(exc.args[0])
            raise arkit.InputError(
                f"character {exc.args[0]!r} (position {position}) is not in the tokenizer's alphabet "
                f"{self.alphabet!r}; learn the alphabet from data that contains it"
            ) from None

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of ``ids``; special ids and ids outside the alphabet are skipped."""
        n = len(self.alphabet)
        return "".join(self.alphabet[i] for i in map(int, ids) if 0 <= i < n)
