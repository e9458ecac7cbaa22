"""A prefix-trie constraint: rows may only spell one of a fixed set of sequences.

Generative retrieval (GENRE, in the seeds) decodes document identifiers this way:
every beam or sample stays a prefix of a valid identifier, so every output is one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["TrieConstraint"]


class TrieConstraint:
    """Allow exactly the continuations of ``sequences`` (lists of token ids).

    The state is the trie node reached so far (an int). At the end of a complete
    sequence ``eos_token_id`` becomes allowed (when given); a sequence that is a
    prefix of another may stop there or go on. Without ``eos_token_id`` a row
    finishes when it completes a sequence that nothing extends.
    """

    def __init__(self, sequences: Iterable[Sequence[int]], *, eos_token_id: int | None = None) -> None:
        if isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
            raise ConfigError(f"sequences must be a list of token-id lists, got {type(sequences).__name__}")
        if eos_token_id is not None and (not isinstance(eos_token_id, int) or isinstance(eos_token_id, bool)
                                         or eos_token_id < 0):
            raise ConfigError(f"eos_token_id must be a token id (an int >= 0) or None, got {eos_token_id!r}")
        self.children: list[dict[int, int]] = [{}]
        self.terminal: list[bool] = [False]
        self.eos_token_id = eos_token_id
        count = 0
        for seq in sequences:
            node = 0
            try:
                ids = [int(t) for t in seq]
            except (TypeError, ValueError):
                raise ConfigError(f"each sequence must be a list of token ids (ints), got {seq!r}") from None
            if not ids:
                raise ConfigError("a trie constraint sequence must not be empty")
            if eos_token_id is not None and eos_token_id in ids:
                raise ConfigError(f"sequence {ids} contains the eos id {eos_token_id}")
            for token in ids:
                if token < 0:
                    raise ConfigError(f"token ids must be >= 0, got {token} in {ids}")
                nxt = self.children[node].get(token)
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][token] = nxt
                    self.children.append({})
                    self.terminal.append(False)
                node = nxt
            self.terminal[node] = True
            count += 1
        if count == 0:
            raise ConfigError("a trie constraint needs at least one sequence")
        self.num_sequences = sum(self.terminal)
        """Distinct sequences held."""

    @property
    def config(self) -> dict[str, Any]:
        """``sequences`` (each distinct sequence once, in trie order) and ``eos_token_id``: JSON, rebuilds this trie."""
        return {"sequences": self.sequences(), "eos_token_id": self.eos_token_id}

    def sequences(self) -> list[list[int]]:
        """The distinct sequences the trie holds, depth first in insertion order of each node's children."""
        found: list[list[int]] = []
        stack: list[tuple[int, list[int]]] = [(0, [])]
        while stack:
            node, prefix = stack.pop()
            if self.terminal[node]:
                found.append(prefix)
            # reversed, so that the first-inserted child is popped (and listed) first
            stack.extend((child, [*prefix, token]) for token, child in reversed(self.children[node].items()))
        return found

    def start(self) -> int:
        return 0

    def allowed(self, state: int) -> list[int]:
        ids = list(self.children[state])
        if self.terminal[state] and self.eos_token_id is not None:
            ids.append(self.eos_token_id)
        return ids

    def advance(self, state: int, token: int) -> int:
        if token == self.eos_token_id and self.terminal[state]:
            return state
        return self.children[state][token]

    def complete(self, state: Any) -> bool:
        return self.terminal[state]
