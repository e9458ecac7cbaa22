"""A Hugging Face ``tokenizers`` tokenizer as an arkit Tokenizer. Registered as ``hf/tokenizer``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
from typing import Any

import arkit


class HFTokenizer:
    """Wraps a ``tokenizers.Tokenizer`` given as its JSON (``tokenizer.json`` content).

    The JSON lives in ``config``, so a saved pipeline carries its tokenizer with it.
    ``special_tokens`` maps arkit's names to the tokenizer's ids, e.g.
    ``{"bos": 1, "eos": 2}``. ``lossless`` defaults to false: byte-level BPE
    round-trips, but normalisers in other tokenizers may not.
    """

    def __init__(self, *, tokenizer_json: str | Mapping[str, Any], special_tokens: Mapping[str, int] | None = None,
                 lossless: bool = False) -> None:
        from tokenizers import Tokenizer

        text = tokenizer_json if isinstance(tokenizer_json, str) else json.dumps(tokenizer_json)
        try:
            self._tok = Tokenizer.from_str(text)
        except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain Exceptions
            raise arkit.ConfigError(f"invalid tokenizer.json content: {exc}") from None
        self._json = json.loads(text)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)
        self.special_tokens = {k: int(v) for k, v in (special_tokens or {}).items()}
        self.lossless = bool(lossless)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"tokenizer_json": self._json, "special_tokens": dict(self.special_tokens), "lossless": self.lossless}

    def encode(self, item: str) -> list[int]:
        if not isinstance(item, str):
            raise arkit.InputError(f"hf/tokenizer encodes str, got {type(item).__name__}")
        return list(self._tok.encode(item, add_special_tokens=False).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode([int(i) for i in ids if 0 <= int(i) < self.vocab_size], skip_special_tokens=True)
