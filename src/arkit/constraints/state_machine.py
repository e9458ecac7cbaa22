"""A finite-state-machine constraint given as a transition table.

Plugins express validity rules (grammars, molecule syntax, graph encodings) as a
deterministic automaton: ``transitions[state][token] -> next state``. A row may
emit only tokens with a transition from its current state; in an accepting
state ``eos_token_id`` is allowed too. For rules a table cannot hold (valence
counting, say), implement the constraint protocol directly: ``start()``,
``allowed(state)``, ``advance(state, token)``, ``complete(state)``.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
import operator
from typing import Any

from ..errors import ConfigError

__all__ = ["StateMachineConstraint"]

def _pairs(value: Any, what: str) -> list[tuple[Any, Any]]:
    """``value`` (a mapping, or a list of 2-item lists as JSON holds one) as a list of pairs."""
    if isinstance(value, Mapping):
        return list(value.items())
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(f"{what} must be a mapping or a list of [key, value] pairs, got {type(value).__name__}")
    pairs = []
    for pair in value:
        items = list(pair) if isinstance(pair, (list, tuple)) else None
        if items is None or len(items) != 2:
            raise ConfigError(f"{what} must be a mapping or a list of [key, value] pairs; {pair!r} is not a pair")
        pairs.append((items[0], items[1]))
    return pairs


def _token(value: Any, state: Any) -> int:
    try:
        token = operator.index(value)  # ints, numpy ints; not floats, strings or bools
    except TypeError:
        token = -1
    if token < 0 or isinstance(value, bool):
        raise ConfigError(f"state {state!r}: token {value!r} is not a token id (an int >= 0)")
    return token


def _hashable(state: Any, what: str) -> Hashable:
    if isinstance(state, list):  # a tuple state read back from JSON
        state = tuple(_hashable(s, what) for s in state)
    try:
        hash(state)
    except TypeError:
        raise ConfigError(f"{what} {state!r} is not hashable: states must be immutable values") from None
    return state


def _json_state(state: Hashable) -> Any:
    """A state as JSON holds it: strings, ints, bools and None as they are; tuples of them as lists."""
    if state is None or isinstance(state, (str, int)):
        return state
    if isinstance(state, tuple):
        return [_json_state(s) for s in state]
    raise ConfigError(f"state {state!r} ({type(state).__name__}) cannot be saved: a state machine's config "
                      f"needs states that are strings, ints or tuples of them; number your states")


class StateMachineConstraint:
    """A deterministic finite automaton over token ids.

    ``transitions`` is ``{state: {token: next_state}}``; its config holds the same
    table as a list of ``[state, [[token, next_state], ...]]`` pairs, which the
    constructor also takes, so the config is plain JSON. States are hashable
    values; to be saved they must be strings, ints or tuples of them.
    """

    def __init__(
        self,
        transitions: Mapping[Hashable, Mapping[int, Hashable]] | Iterable[Any],
        *,
        start: Hashable,
        accept: Collection[Hashable] = (),
        eos_token_id: int | None = None,
    ) -> None:
        if eos_token_id is not None and (not isinstance(eos_token_id, int) or isinstance(eos_token_id, bool)
                                         or eos_token_id < 0):
            raise ConfigError(f"eos_token_id must be a token id (an int >= 0) or None, got {eos_token_id!r}")
        self.transitions: dict[Hashable, dict[int, Hashable]] = {}
        for state, edges in _pairs(transitions, "transitions"):
            table: dict[int, Hashable] = {}
            for token, target in _pairs(edges, f"the transitions of state {state!r}"):
                table[_token(token, state)] = _hashable(target, "state")
            self.transitions[_hashable(state, "state")] = table
        if isinstance(accept, (str, bytes)):
            raise ConfigError(f"accept must be a collection of states, got the string {accept!r}")
        accept = frozenset(_hashable(a, "accepting state") for a in accept)
        start = _hashable(start, "start state")
        if start not in self.transitions and start not in accept:
            raise ConfigError(f"start state {start!r} has no transitions and is not accepting")
        for state, edges in self.transitions.items():
            if eos_token_id is not None and eos_token_id in edges:
                raise ConfigError(f"state {state!r} has a transition on the eos id {eos_token_id}: eos ends a row")
            for target in edges.values():
                if target not in self.transitions and target not in accept:
                    raise ConfigError(f"state {state!r} leads to {target!r}, which has no transitions and is not accepting")
        self.initial = start
        self.accept = accept
        self.eos_token_id = eos_token_id

    @property
    def config(self) -> dict[str, Any]:
        """The table as ``[[state, [[token, next], ...]], ...]``, ``start``, ``accept`` and ``eos_token_id``.

        Raises :class:`arkit.ConfigError` for states JSON cannot hold (see the class docstring).
        """
        return {
            "transitions": [
                [_json_state(state), [[token, _json_state(target)] for token, target in edges.items()]]
                for state, edges in self.transitions.items()
            ],
            "start": _json_state(self.initial),
            "accept": sorted((_json_state(a) for a in self.accept), key=repr),
            "eos_token_id": self.eos_token_id,
        }

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
