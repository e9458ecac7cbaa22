"""A finite-state-machine constraint given as a transition table.

Plugins express validity rules (grammars, molecule syntax, graph encodings) as a
deterministic automaton: ``transitions[state][token] -> next state``. A row may
emit only tokens with a transition from its current state; in an accepting
state ``eos_token_id`` is allowed too. For rules a table cannot hold (valence
counting, say), implement the constraint protocol directly: ``start()``,
``allowed(state)``, ``advance(state, token)``, ``complete(state)``.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping

from ..errors import ConfigError

__all__ = ["StateMachineConstraint"]


class StateMachineConstraint:
    """A deterministic finite automaton over token ids."""

    def __init__(
        self,
        transitions: Mapping[Hashable, Mapping[int, Hashable]],
        *,
        start: Hashable,
        accept: Collection[Hashable] = (),
        eos_token_id: int | None = None,
    ) -> None:
        self.transitions = {s: {int(t): n for t, n in edges.items()} for s, edges in transitions.items()}
        if start not in self.transitions and start not in set(accept):
            raise ConfigError(f"start state {start!r} has no transitions and is not accepting")
        for state, edges in self.transitions.items():
            if eos_token_id is not None and eos_token_id in edges:
                raise ConfigError(f"state {state!r} has a transition on the eos id {eos_token_id}: eos ends a row")
            for target in edges.values():
                if target not in self.transitions and target not in set(accept):
                    raise ConfigError(f"state {state!r} leads to {target!r}, which has no transitions and is not accepting")
        self.initial = start
        self.accept = frozenset(accept)
        self.eos_token_id = eos_token_id

    def start(self) -> Hashable:
        return self.initial

    def allowed(self, state: Hashable) -> list[int]:
        ids = list(self.transitions.get(state, {}))
        if state in self.accept and self.eos_token_id is not None:
            ids.append(self.eos_token_id)
        return ids

    def advance(self, state: Hashable, token: int) -> Hashable:
        if token == self.eos_token_id and state in self.accept:
            return state
        return self.transitions[state][token]

    def complete(self, state: Hashable) -> bool:
        return state in self.accept
