"""A ring-size limit for SELFIES generation: no ring larger than ``max_ring_size`` atoms.

Every SELFIES string decodes to a valid molecule, so SELFIES needs no validity
constraint; but a model can still write rings no training molecule has. A SELFIES
ring is a ``[Ring1]`` (``[=Ring1]``, ``[Ring2]``...) symbol followed by index
symbols that give a number ``Q``: it bonds the current atom to the atom ``Q + 1``
places earlier in derivation order. Getting ``Q`` exactly right means counting the
atoms of the branches in between, which small models get wrong: too large a ``Q``
makes an 8-14-membered ring.

This constraint follows ``selfies``' own derivation (its grammar rules: bond
orders capped by the atoms' free valence, branches that span ``Q + 1`` symbols,
index symbols read past a branch's end, symbols after a saturated atom ignored,
``.`` fragments) token by token, keeps the bonds placed so far, and allows an index
symbol only if the ring it closes has at most ``max_ring_size`` atoms (``path + 1``
through the partial molecule, as :class:`~arkit_molecules.SmilesConstraint`
measures it). Everything else is allowed as the model likes it; a ring symbol only
where some index will do, and the end only where it closes no ring too large. With
the largest ring of the training molecules as the limit, it forbids only what the
training data never shows.

**Which bonds count.** ``selfies`` makes ring bonds at the end, in order, and leaves
out one whose atoms have no valence left by then. A path through such a bond would
not exist in the molecule, so a ring bond counts as a chord only once it is sure to
be made: both its atoms keep a free valence even if every earlier ring bond on them
is made and every chain or branch bond they may still take is. (Counting every ring
bond let 2 % of a trained model's molecules keep a ring over the limit.) Each ring
bond that is made then lies on a cycle within the limit, and those cycles form a
cycle basis, so the molecule's smallest rings are within it too.

**Fused rings.** A closure on an atom that is too large may wait: a second closure on
the same atom can split it (``selfies`` writes a bicycle's outer ring first when the
SMILES it came from closes it first). Until then the atom cannot be left: only ring
symbols may follow, and only while some closures on it can still settle every waiting
ring within the bonds and symbols the atom's level has left. A closure that only a
later atom's ring could make small (peri-fused systems spelled that way) is refused.

A string cut off by ``max_new_tokens`` inside a ring's index reads the missing index
symbols as 0, as ``selfies`` does, and is not checked.

Registered as the constraint ``molecules/selfies``: its config (the alphabet, the
special ids and ``max_ring_size``) is JSON. Build it from a fitted tokenizer with
``SelfiesConstraint(tokenizer, max_ring_size=7)``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
import math
from typing import Any, NamedTuple

from arkit import ConfigError

from .constraint import _alphabet_and_specials, _distances, _replay

__all__ = ["SelfiesConstraint"]

_ATOM, _BRANCH, _RING, _EPSILON, _FRAGMENT, _NONE = range(6)


class _Frame(NamedTuple):
    """One level of the derivation: a fragment's main chain, or a branch."""

    state: int | None  # selfies' state: 0 before the first atom, else the bonds `prev` has left; None: over
    prev: int  # the atom the next bond starts from (-1: none yet)
    left: float  # symbols this level may still derive (a main chain: no limit)


class _Mol(NamedTuple):
    """The molecule so far, as selfies will make it."""

    tree: tuple[tuple[int, ...], ...]  # the chain and branch bonds: each atom's neighbours
    room: tuple[int, ...]  # each atom's bonding capacity less its chain and branch bond orders
    rings: tuple[tuple[int, int, int], ...]  # ring bonds in selfies' order: (earlier atom, current atom, order)
    pending: tuple[int, ...]  # the rings (indices) on the current atom whose ring is not yet small enough


class _State(NamedTuple):
    n: int  # tokens generated
    frames: tuple[_Frame, ...]  # the main chain first, the innermost branch last
    reading: tuple[Any, ...]  # () or an index being read: (kind, value, symbols still to read, value so far,
    #                           the ring bond order); value: a branch's starting state, a ring's atom
    mol: _Mol
    done: bool


def _symbol(token: str) -> tuple[int, Any]:
    """What ``token`` is in selfies' grammar: (kind, its parameters)."""
    from selfies.grammar_rules import process_atom_symbol, process_branch_symbol, process_ring_symbol

    if token == ".":
        return _FRAGMENT, None
    if not (token.startswith("[") and token.endswith("]")):
        return _NONE, None  # a condition tag: selfies never sees it
    if token[-4:-2] == "ch":
        branch = process_branch_symbol(token)
        return (_BRANCH, branch) if branch is not None else (_NONE, None)
    if token[-4:-2] == "ng":
        ring = process_ring_symbol(token)
        return (_RING, (ring[0], ring[1])) if ring is not None else (_NONE, None)
    if "eps" in token:
        return _EPSILON, None
    atom = process_atom_symbol(token)
    if atom is None:
        return _NONE, None
    (order, _), element = atom
    return _ATOM, (order, element.bonding_capacity)


class SelfiesConstraint:
    """SELFIES whose rings have at most ``max_ring_size`` atoms.

    ``tokenizer``: a fitted :class:`arkit_molecules.SelfiesTokenizer` (anything with
    ``alphabet`` and ``special_tokens`` whose ids are ``len(special_tokens)`` + the
    alphabet index works); or, instead, ``alphabet`` (and ``special_tokens``, by
    default ``pad`` 0, ``bos`` 1, ``eos`` 2), which is what the JSON config holds.
    ``max_ring_size``: the most atoms a ring may have (>= 3).
    """

    def __init__(self, tokenizer: Any = None, *, alphabet: Sequence[str] | None = None,
                 special_tokens: Mapping[str, int] | None = None, max_ring_size: int = 7) -> None:
        from selfies.constants import INDEX_CODE

        if not isinstance(max_ring_size, int) or isinstance(max_ring_size, bool) or max_ring_size < 3:
            raise ConfigError(f"max_ring_size must be an int >= 3 (the smallest ring has 3 atoms), got {max_ring_size!r}")
        self.alphabet, special = _alphabet_and_specials(tokenizer, alphabet, special_tokens, "SelfiesConstraint",
                                                        "SelfiesTokenizer")
        self.special_tokens = special
        self.max_ring_size = max_ring_size
        self.eos = int(special["eos"])
        offset = len(special)
        self._kind = {offset + i: _symbol(token) for i, token in enumerate(self.alphabet)}
        self._code = {offset + i: INDEX_CODE.get(token, 0) for i, token in enumerate(self.alphabet)}
        self._base = len(INDEX_CODE)
        self._every = [self.eos, *self._kind]  # what the model may write outside a ring's index
        self._rings = [t for t, (kind, _) in self._kind.items() if kind == _RING]
        self._plain = [t for t in self._every if t not in self._rings]
        self._fragments = [t for t, (kind, _) in self._kind.items() if kind == _FRAGMENT]
        self._tags = [t for t, (kind, _) in self._kind.items() if kind == _NONE]
        self._by_code: dict[int, list[int]] = {}
        for token_id, code in self._code.items():
            if self._kind[token_id][0] not in (_FRAGMENT, _NONE):  # "." and tags are never index symbols
                self._by_code.setdefault(code, []).append(token_id)
        self._ring_kinds = sorted({self._kind[t][1] for t in self._rings})  # (bond order, index symbols)
        self._reach: dict[int, list[int]] = {0: [0]}  # index symbols -> the Q values the alphabet can write
        self._last: tuple[Any, list[int]] = (None, [])  # the last state allowed() answered, and its answer

    @property
    def config(self) -> dict[str, Any]:
        """JSON: ``arkit.create("constraint", "molecules/selfies", **config)`` rebuilds this constraint."""
        return {"alphabet": list(self.alphabet), "special_tokens": dict(self.special_tokens),
                "max_ring_size": self.max_ring_size}

    # -- the constraint protocol ---------------------------------------------------
    def start(self) -> _State:
        return _State(0, (_Frame(0, -1, math.inf),), (), _Mol((), (), (), ()), False)

    def complete(self, state: _State) -> bool:
        if state.done:
            return True
        return self._stop_fits(state) if state.reading else not state.mol.pending

    def allowed(self, state: _State) -> list[int]:
        if state is self._last[0]:  # advance() checks the token the caller just picked from this list
            return self._last[1]
        ids = self._allowed(state)
        self._last = (state, ids)
        return ids

    def _allowed(self, state: _State) -> list[int]:
        if state.done:
            return []
        reading = state.reading
        if not reading:  # ring symbols only where some index will do; with a pending ring, nothing else
            rings = [t for t in self._rings if self._ring_symbol_fits(state, t)]
            return rings if state.mol.pending else self._plain + rings
        if reading[0] != _RING:
            return self._every
        # an index symbol of a ring: only codes for which some completion of the index closes a small ring
        ids = []
        if self._stop_fits(state):
            ids += [self.eos, *self._fragments]
        ids += self._tags  # tags: not index symbols
        _, atom, left, so_far, _ = reading
        for code, tokens in self._by_code.items():
            if self._ring_fits(state, atom, so_far * self._base + code, left - 1, left):
                ids.extend(tokens)
        return ids

    def advance(self, state: _State, token: int) -> _State:
        if state.done:
            raise ConfigError("the SELFIES string has ended; nothing may follow the end token")
        if token != self.eos and token not in self._kind:
            raise ConfigError(f"token {token} is not in the SELFIES alphabet of this constraint (special ids "
                              f"{sorted(self.special_tokens.values())} other than the end cannot be generated)")
        if token not in self.allowed(state):
            raise ConfigError(f"token {token} would leave a ring of more than {self.max_ring_size} atoms at "
                              f"generated position {state.n}; pick one of allowed(state)")
        if token == self.eos:
            return state._replace(n=state.n + 1, done=True)
        kind, value = self._kind[token]
        s = state._replace(n=state.n + 1)
        if kind == _NONE:
            return s
        if kind == _FRAGMENT:  # selfies derives each "."-separated part on its own, from state 0
            s = self._finish_index(s)
            return s._replace(frames=(_Frame(0, -1, math.inf),))
        if s.reading:
            return self._index_symbol(s, self._code[token])
        return self._pop(self._derive(s, kind, value))

    def check(self, ids: Sequence[int]) -> bool:
        """Whether the constraint would accept ``ids`` (generated tokens, ``eos`` optional) from the start."""
        return _replay(self, ids, lambda state: state.done)

    # -- selfies' derivation, one symbol at a time ------------------------------------------
    @staticmethod
    def _count(s: _State) -> _State:
        """Every level spends one symbol (a branch's symbols count towards the levels around it)."""
        return s._replace(frames=tuple(f._replace(left=f.left - 1) for f in s.frames))

    def _derive(self, s: _State, kind: int, value: Any) -> _State:
        s = self._count(s)
        frame = s.frames[-1]
        state = frame.state
        if state is None:  # the level is over: selfies skips its remaining symbols
            return s
        if kind == _ATOM:
            from selfies.grammar_rules import next_atom_state

            order, capacity = value
            order, after = next_atom_state(order, capacity, state)
            if order == 0 and state != 0:  # an atom with no bond to give: not added, the level ends
                return self._set(s, frame._replace(state=after))
            mol, new = s.mol, len(s.mol.tree)
            tree, room = [*mol.tree, ()], [*mol.room, capacity - order]
            if order:
                tree[frame.prev] = (*tree[frame.prev], new)
                tree[new] = (frame.prev,)
                room[frame.prev] -= order
            mol = mol._replace(tree=tuple(tree), room=tuple(room))
            return self._set(s, frame._replace(state=after, prev=new))._replace(mol=mol)
        if kind == _EPSILON:
            return self._set(s, frame._replace(state=0 if state == 0 else None))
        if kind == _BRANCH:
            if state <= 1:
                return s
            from selfies.grammar_rules import next_branch_state

            btype, n = value
            start, after = next_branch_state(btype, state)
            return self._set(s, frame._replace(state=after))._replace(reading=(_BRANCH, start, n, 0, 0))
        # a ring
        if state == 0:
            return s
        from selfies.grammar_rules import next_ring_state

        ring_type, n = value
        order, after = next_ring_state(ring_type, state)
        return self._set(s, frame._replace(state=after))._replace(reading=(_RING, frame.prev, n, 0, order))

    @staticmethod
    def _set(s: _State, frame: _Frame) -> _State:
        return s._replace(frames=(*s.frames[:-1], frame))

    def _index_symbol(self, s: _State, code: int) -> _State:
        kind, value, left, so_far, order = s.reading
        s = self._count(s)._replace(reading=(kind, value, left - 1, so_far * self._base + code, order))
        return self._pop(self._finish_index(s)) if left == 1 else s

    def _finish_index(self, s: _State) -> _State:
        """Act on a fully read index (missing symbols read as 0)."""
        if not s.reading:
            return s
        kind, value, left, so_far, order = s.reading
        q = so_far * self._base ** left
        s = s._replace(reading=())
        if kind == _BRANCH:  # the branch derives Q + 1 symbols from the current atom
            return s._replace(frames=(*s.frames, _Frame(value, s.frames[-1].prev, q + 1)))
        return s._replace(mol=self._close(s.mol, _future(s.frames), value, max(0, value - (q + 1)), order))

    @staticmethod
    def _pop(s: _State) -> _State:
        """Close the branches whose symbols are spent (once an index being read is complete: selfies reads it
        whatever the branch has left)."""
        if s.reading:
            return s
        frames = s.frames
        while len(frames) > 1 and frames[-1].left <= 0:
            frames = frames[:-1]
        return s._replace(frames=frames)

    def _ring_symbol_fits(self, s: _State, token: int) -> bool:
        """Whether some index after the ring symbol ``token`` keeps every ring within the limit (always, where
        selfies ignores the symbol)."""
        after = self._derive(s, _RING, self._kind[token][1])
        if not after.reading:
            return not s.mol.pending
        return self._ring_fits(after, after.reading[1], 0, after.reading[2], after.reading[2])

    def _stop_fits(self, s: _State) -> bool:
        """Whether ending the string (or the fragment) here is fine: a ring's missing index symbols read as 0."""
        kind, atom, left, so_far, order = s.reading
        if kind != _RING:
            return True
        return not self._close(s.mol, _future(s.frames), atom, max(0, atom - (so_far * self._base ** left + 1)),
                               order).pending

    def _values(self, n: int) -> list[int]:
        """The numbers ``n`` index symbols of this alphabet can write."""
        if n not in self._reach:
            self._reach[n] = sorted({v * self._base + code for v in self._values(n - 1) for code in self._by_code})
        return self._reach[n]

    def _holders(self, atom: int, offset: int, n: int) -> list[int]:
        """The atoms a closure on ``atom`` can reach with ``Q = offset +`` a number ``n`` index symbols write,
        nearest first (selfies bonds to atom ``max(0, atom - (Q + 1))``)."""
        values = self._values(n)
        reach = atom - 1 - offset  # Q up to this stays above atom 0
        near = [atom - 1 - offset - v for v in values[: bisect.bisect_right(values, reach)]]
        return near + [0] if reach < values[-1] and (not near or near[-1] != 0) else near

    def _ring_fits(self, s: _State, atom: int, prefix: int, rest: int, to_read: int) -> bool:
        """Whether some ``Q`` (``prefix`` then ``rest`` more index symbols) makes a closure on ``atom`` that keeps
        every ring within the limit, now or after further closures on the same atom (``to_read``: the index
        symbols not yet read, this one included)."""
        frame = s.frames[-1]  # its state is already the one after this ring
        left = frame.left - to_read  # the symbols its level has left once the index is read
        future = _future(s.frames)
        holders = self._holders(atom, prefix * self._base ** rest, rest)  # the nearest first: a fit ends the search
        waiting = []
        for holder in holders:
            mol = self._close(s.mol, future, atom, holder, s.reading[4])
            if not mol.pending:
                return True
            waiting.append(mol)
        return any(self._viable(mol, future, atom, frame.state, left) for mol in waiting)

    def _close(self, mol: _Mol, future: dict[int, int], atom: int, holder: int, order: int) -> _Mol:
        """``mol`` after a ring bond of ``order`` from ``atom`` to ``holder``: pending if the ring it closes through
        the bonds selfies is sure to make is too large; then every pending ring that is now small enough is not."""
        if holder == atom:  # selfies makes no bond from an atom to itself
            return mol
        ring = len(mol.rings)
        if holder in mol.tree[atom] and not mol.pending:  # a higher bond order: no ring
            return mol._replace(rings=(*mol.rings, (holder, atom, order)))
        bonds = _sure_bonds(mol, future)
        mol = mol._replace(rings=(*mol.rings, (holder, atom, order)))
        distance = _distances(bonds, atom)[holder]
        if distance >= 0 and distance + 1 > self.max_ring_size and holder not in bonds[atom]:
            return mol._replace(pending=(*mol.pending, ring))
        while mol.pending:
            distance = _distances(_sure_bonds(mol, future), atom)
            fits = [i for i in mol.pending if distance[mol.rings[i][0]] + 1 <= self.max_ring_size]
            if not fits:
                break
            mol = mol._replace(pending=tuple(i for i in mol.pending if i != fits[0]))
        return mol

    def _viable(self, mol: _Mol, future: dict[int, int], atom: int, state: int | None, left: float) -> bool:
        """Whether the pending rings on ``atom`` can all be made small by more closures on it: each takes bonds of
        ``state`` (the bonds it has left) and symbols of ``left`` (its level's: the ring symbol must still be
        derived), with the ring symbols and index values of this alphabet."""
        if not mol.pending:
            return True
        if not state or left < 1:
            return False
        # a closure settles a pending ring (holder h) only if its own holder x is near both: the new ring has
        # d(atom, x) + 1 atoms and the settled one at most d(x, h) + 2
        bonds = _sure_bonds(mol, future)
        near = _distances(bonds, atom)
        limit = self.max_ring_size
        pending = [mol.rings[i][0] for i in mol.pending]
        useful = {x for x in range(atom) if near[x] < 0 or near[x] + 1 <= limit if any(
            0 <= _distances(bonds, h)[x] <= limit - 2 for h in pending)}
        for ring_type, n in self._ring_kinds:
            order = min(ring_type, state)
            after = state - order or None
            later = {**future, atom: future.get(atom, 0) - state + (after or 0)}
            for holder in set(self._holders(atom, 0, n)) & useful:
                closed = self._close(mol, later, atom, holder, order)
                if len(closed.pending) < len(mol.pending) and self._viable(closed, later, atom, after, left - 1 - n):
                    return True
        return False


def _future(frames: tuple[_Frame, ...]) -> dict[int, int]:
    """The most bond orders each atom may still take in chain or branch bonds: the states of the levels it
    is the current atom of."""
    future: dict[int, int] = {}
    for frame in frames:
        if frame.state and frame.prev >= 0:
            future[frame.prev] = future.get(frame.prev, 0) + frame.state
    return future


def _sure_bonds(mol: _Mol, future: dict[int, int]) -> tuple[tuple[int, ...], ...]:
    """The chain and branch bonds and the ring bonds selfies is sure to make: at the end it makes them in order
    while both atoms have a free valence, so a ring bond is sure when both keep one even if every earlier ring
    bond on them is made and every chain or branch bond they may still take is."""
    adj = [list(near) for near in mol.tree]
    taken = [0] * len(mol.tree)
    for i, (holder, atom, order) in enumerate(mol.rings):
        if i not in mol.pending and all(mol.room[x] - future.get(x, 0) - taken[x] >= 1 for x in (holder, atom)):
            if holder not in adj[atom]:
                adj[atom].append(holder)
                adj[holder].append(atom)
        taken[holder] += order
        taken[atom] += order
    return tuple(tuple(near) for near in adj)
