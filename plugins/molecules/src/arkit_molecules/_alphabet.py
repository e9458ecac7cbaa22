"""The shared machinery of tokenizers whose alphabet is a list of string tokens learned from data.

Ids: 0 ``pad``, 1 ``bos``, 2 ``eos``, then the alphabet in order. ``vocab_size`` is a
fixed capacity chosen when the tokenizer is built, so a model can be sized before the
alphabet is learned; ids past the alphabet are never produced and decode to nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from arkit import ConfigError, InputError

PAD, BOS, EOS = 0, 1, 2
NUM_SPECIAL = 3
DEFAULT_CAPACITY = 128


class _AlphabetTokenizer:
    """Base class: subclasses define ``_split(item) -> list[str]`` and ``_default_alphabet``."""

    lossless = True
    _default_alphabet: tuple[str, ...] = ()
    _what = "item"

    def __init__(self, *, alphabet: Sequence[str] | None = None, vocab_size: int | None = None) -> None:
        self.fitted = alphabet is not None
        tokens = list(alphabet) if alphabet is not None else list(self._default_alphabet)
        if vocab_size is None:
            vocab_size = NUM_SPECIAL + len(tokens) if self.fitted else DEFAULT_CAPACITY
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size <= NUM_SPECIAL:
            raise ConfigError(f"vocab_size must be an int > {NUM_SPECIAL}, got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.special_tokens: Mapping[str, int] = {"pad": PAD, "bos": BOS, "eos": EOS}
        self._set_alphabet(tokens)

    def _set_alphabet(self, tokens: list[str]) -> None:
        if len(set(tokens)) != len(tokens):
            raise ConfigError("the alphabet lists a token twice")
        if any(not isinstance(t, str) or not t for t in tokens):
            raise ConfigError("alphabet tokens must be non-empty strings")
        if NUM_SPECIAL + len(tokens) > self.vocab_size:
            raise ConfigError(
                f"the alphabet has {len(tokens)} tokens but vocab_size {self.vocab_size} leaves room for "
                f"{self.vocab_size - NUM_SPECIAL}: build the tokenizer with a larger vocab_size"
            )
        self.alphabet: tuple[str, ...] = tuple(tokens)
        self._ids = {t: NUM_SPECIAL + i for i, t in enumerate(tokens)}

    @property
    def config(self) -> Mapping[str, Any]:
        return {"alphabet": list(self.alphabet) if self.fitted else None, "vocab_size": self.vocab_size}

    # -- learning ------------------------------------------------------------------
    def fit(self, items: Iterable[Any]) -> _AlphabetTokenizer:
        """Learn the alphabet from ``items`` (most frequent first) and return ``self``.

        Items the tokenizer cannot split raise :class:`arkit.InputError` naming the item.
        """
        counts: Counter[str] = Counter()
        n = 0
        for n, item in enumerate(items, 1):
            counts.update(self.split(item))
        if n == 0:
            raise InputError(f"cannot learn an alphabet from no {self._what}s: pass at least one")
        self._set_alphabet([t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))])
        self.fitted = True
        return self

    # -- coding --------------------------------------------------------------------
    def split(self, item: Any) -> list[str]:
        """The item's tokens as strings; raises :class:`arkit.InputError` if the item is not well formed."""
        if not isinstance(item, str):
            raise InputError(f"a {self._what} must be a str, got {type(item).__name__}")
        return self._split(item)

    def _split(self, item: str) -> list[str]:
        raise NotImplementedError

    def token_id(self, token: str) -> int | None:
        """The id of ``token``, or ``None`` when it is not in the alphabet."""
        return self._ids.get(token)

    def token(self, token_id: int) -> str | None:
        """The token string of an id, or ``None`` for special and unused ids."""
        index = int(token_id) - NUM_SPECIAL
        return self.alphabet[index] if 0 <= index < len(self.alphabet) else None

    def encode(self, item: str) -> list[int]:
        ids = []
        position = 0
        for index, token in enumerate(self.split(item)):
            token_id = self._ids.get(token)
            if token_id is None:
                hint = ("refit the tokenizer on data that contains it" if self.fitted else
                        "fit the tokenizer on your data first (tokenizer.fit(items), or Pipeline.fit does it)")
                raise InputError(
                    f"{self._what} {item!r}: token {token!r} (token {index}, character {position}) is not in "
                    f"the alphabet of {len(self.alphabet)} tokens; {hint}"
                )
            ids.append(token_id)
            position += len(token)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(t for t in map(self.token, ids) if t is not None)
