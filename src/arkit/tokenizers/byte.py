"""A byte-level tokenizer: UTF-8 bytes are the tokens. Lossless on any str or bytes.

Registered as ``core/byte``. Ids 0-255 are bytes; 256, 257 and 258 are the
``bos``, ``eos`` and ``pad`` special tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import ConfigError, InputError

__all__ = ["ByteTokenizer"]


class ByteTokenizer:
    """Bytes in, bytes (or text) out; nothing to learn, nothing to download.

    ``mode="text"`` encodes ``str`` (and ``bytes``) and decodes to ``str``;
    ``mode="bytes"`` decodes to ``bytes``. Text round trips are exact for every
    string, lone surrogates included; decoding bytes that are not valid UTF-8
    (a model can generate those) replaces them with U+FFFD instead of raising.
    """

    lossless = True
    BOS, EOS, PAD = 256, 257, 258

    def __init__(self, *, mode: Literal["text", "bytes"] = "text") -> None:
        if mode not in ("text", "bytes"):
            raise ConfigError(f"byte tokenizer mode must be 'text' or 'bytes', got {mode!r}")
        self.mode = mode
        self.vocab_size = 259
        self.special_tokens: Mapping[str, int] = {"bos": self.BOS, "eos": self.EOS, "pad": self.PAD}

    @property
    def config(self) -> Mapping[str, Any]:
        return {"mode": self.mode}

    def encode(self, item: str | bytes) -> list[int]:
        if isinstance(item, str):
            return list(item.encode("utf-8", errors="surrogatepass"))
        if isinstance(item, (bytes, bytearray)):
            return list(item)
        raise InputError(f"the byte tokenizer encodes str or bytes, got {type(item).__name__}")

    def decode(self, ids: Sequence[int]) -> str | bytes:
        data = bytes(int(i) for i in ids if 0 <= int(i) < 256)
        if self.mode == "bytes":
            return data
        try:
            return data.decode("utf-8", errors="surrogatepass")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace")
