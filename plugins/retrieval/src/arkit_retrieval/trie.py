"""``retrieval/id-trie``: a prefix-trie constraint over every valid id, stored in a marisa-trie.

GENRE's constrained beam search: each row may only spell a prefix of a valid
token sequence, so every finished output is one of them. The trie maps every
node (a prefix, each token written as one character) to its children packed as
``int32`` bytes in one :class:`marisa_trie.BytesTrie`: 138k Unicode character
names (298k nodes) take under 1 MB and build in well under a second, and a
lookup is a single key probe. A state is the prefix string itself (immutable,
hashable), which is what beam search and speculative rollback need.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from arkit import ConfigError

__all__ = ["IdTrieConstraint", "token_char"]

_SURROGATES = 0xD800
_SURROGATE_SPAN = 0x800


def token_char(token: int) -> str:
    """One character standing for ``token`` (never NUL, never a surrogate)."""
    code = token + 1
    if code >= _SURROGATES:
        code += _SURROGATE_SPAN
    return chr(code)


def _char_token(ch: str) -> int:
    code = ord(ch)
    if code >= _SURROGATES + _SURROGATE_SPAN:
        code -= _SURROGATE_SPAN
    return code - 1


class IdTrieConstraint:
    """Allow exactly the token sequences in ``sequences``, then ``eos_token_id`` (when given) at their ends.

    A sequence that is a prefix of another may end there (with ``eos``) or go on.
    Without ``eos_token_id`` a row ends when it completes a sequence nothing extends.
    ``sequences`` is JSON-serialisable, so the constraint saves with a pipeline. With
    ``vocab_size`` set, ``allowed`` returns a ``BoolTensor[vocab_size]`` mask instead of a list.
    """

    def __init__(self, *, sequences: Iterable[Sequence[int]], eos_token_id: int | None = None,
                 vocab_size: int | None = None) -> None:
        import marisa_trie

        seqs: list[tuple[int, ...]] = []
        for seq in sequences:
            ids = tuple(int(t) for t in seq)
            if not ids:
                raise ConfigError("an id-trie sequence must not be empty")
            if min(ids) < 0 or max(ids) > 0x10FFFF - _SURROGATE_SPAN - 1:
                raise ConfigError(f"token ids must lie in [0, 1_112_000), got {ids}")
            if eos_token_id is not None and eos_token_id in ids:
                raise ConfigError(f"sequence {list(ids)} contains the eos id {eos_token_id}")
            seqs.append(ids)
        if not seqs:
            raise ConfigError("an id-trie constraint needs at least one sequence")
        seqs = sorted(set(seqs))
        self.eos_token_id = None if eos_token_id is None else int(eos_token_id)
        top = max(max(s) for s in seqs)
        if vocab_size is not None and not (isinstance(vocab_size, int) and vocab_size > max(top, self.eos_token_id or 0)):
            raise ConfigError(f"vocab_size must be an int above every id (largest {top}), got {vocab_size!r}")
        self.vocab_size = vocab_size
        self.num_sequences = len(seqs)
        self._sequences = [list(s) for s in seqs]
        # Every node is a prefix string; its children are the tokens that follow it in some sequence.
        children: dict[str, set[int]] = {}
        terminal: set[str] = set()
        for seq in seqs:
            key = "".join(map(token_char, seq))
            for depth in range(len(seq)):
                children.setdefault(key[:depth], set()).add(seq[depth])
            terminal.add(key)
        items = []
        for key in children.keys() | terminal:
            kids = sorted(children.get(key, ()))
            if key in terminal:
                kids.append(-1)  # -1 marks a complete sequence
            items.append((key, np.asarray(kids, dtype="<i4").tobytes()))
        self._trie = marisa_trie.BytesTrie(items)
        self.num_nodes = len(items)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> IdTrieConstraint:
        """The trie of every document id of an id tokenizer, ending with its ``eos``."""
        return cls(sequences=tokenizer.sequences(), eos_token_id=tokenizer.special_tokens["eos"],
                   vocab_size=tokenizer.vocab_size)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"sequences": [list(s) for s in self._sequences], "eos_token_id": self.eos_token_id,
                "vocab_size": self.vocab_size}

    def _node(self, state: str) -> np.ndarray:
        values = self._trie.get(state)
        if not values:
            return np.empty(0, dtype=np.int32)
        return np.frombuffer(values[0], dtype="<i4")

    def start(self) -> str:
        return ""

    def allowed(self, state: str) -> list[int] | torch.Tensor:
        kids = self._node(state)
        ids = [int(t) for t in kids if t >= 0]
        if self.eos_token_id is not None and len(kids) and kids[-1] == -1:
            ids.append(self.eos_token_id)
        if self.vocab_size is None:
            return ids
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[ids] = True
        return mask

    def advance(self, state: str, token: int) -> str:
        if token == self.eos_token_id and self.complete(state):
            return state
        return state + token_char(int(token))

    def complete(self, state: str) -> bool:
        kids = self._node(state)
        return bool(len(kids)) and int(kids[-1]) == -1

    def contains(self, tokens: Sequence[int]) -> bool:
        """Whether ``tokens`` (eos stripped) is one of the sequences."""
        ids = [int(t) for t in tokens if t != self.eos_token_id]
        return bool(ids) and self.complete("".join(token_char(t) for t in ids))

    def tokens_of(self, state: str) -> list[int]:
        """The tokens a state has spelled."""
        return [_char_token(c) for c in state]
