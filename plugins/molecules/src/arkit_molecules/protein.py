"""Amino-acid tokenizer for protein sequences (registered as ``molecules/protein``).

One token per residue: the 20 standard amino acids in one-letter code plus ``X``
(unknown residue). Ids: 0 ``pad``, 1 ``bos``, 2 ``eos``, then ``ACDEFGHIKLMNPQRSTVWYX``.
Round trips are exact for uppercase sequences; any other character is refused with
its position.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from arkit import InputError

__all__ = ["AMINO_ACIDS", "ProteinTokenizer"]

#: The 20 standard amino acids, then X for an unknown residue.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWYX"


class ProteinTokenizer:
    """Protein sequences (one-letter code) <-> ids; nothing to learn."""

    lossless = True

    def __init__(self) -> None:
        self.vocab_size = 3 + len(AMINO_ACIDS)
        self.special_tokens: Mapping[str, int] = {"pad": 0, "bos": 1, "eos": 2}
        self._ids = {aa: 3 + i for i, aa in enumerate(AMINO_ACIDS)}

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    def encode(self, item: str) -> list[int]:
        if not isinstance(item, str):
            raise InputError(f"a protein sequence must be a str, got {type(item).__name__}")
        ids = []
        for position, residue in enumerate(item):
            token_id = self._ids.get(residue)
            if token_id is None:
                raise InputError(
                    f"protein sequence: {residue!r} at position {position} is not one of the 20 amino acids or X "
                    f"({AMINO_ACIDS}); write residues in uppercase one-letter code, unknown ones as X"
                )
            ids.append(token_id)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(AMINO_ACIDS[i - 3] for i in map(int, ids) if 3 <= i < self.vocab_size)
