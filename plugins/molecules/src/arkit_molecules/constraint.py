"""A validity constraint for SMILES generation: every sampled string parses and sanitises in RDKit.

Pass it to ``Pipeline.generate(..., constraint=SmilesConstraint(pipe.tokenizer, max_tokens=n))``.
It follows the SMILES grammar token by token and keeps, in an immutable state:

- the **atoms** placed so far and the valence each one has left (a bond of order
  ``k`` uses ``k`` on both ends; how much an atom offers is measured once per
  token with RDKit, so charged and bracket atoms such as ``[N+]`` or ``[NH3+]``
  get RDKit's own limits);
- the **open branches** (a stack of the atoms ``(`` left behind: ``)`` returns there);
- the **open ring closures** (label, atom, bond order): a label closes on a later
  atom that is neither the opening atom nor already bonded to it, with a
  compatible bond order and enough valence on both ends;
- **what may come next** in the grammar: after an atom, a ring digit, bond,
  branch, atom or end; after ``(``, a bond or atom; after a bond, an atom (or a
  ring digit straight after an atom).

**Aromaticity.** Aromatic SMILES (``c1ccccc1``) is valid only if RDKit can find a
Kekulé structure, a global property no left-to-right rule can check cheaply. So
the constraint generates **Kekulé SMILES**: aromatic atoms (``c``, ``n``, ``[nH]``)
and the aromatic bond ``:`` are never allowed. Train on kekulised SMILES
(:func:`arkit_molecules.datasets.kekulize`, which ``load_smiles(kekule=True)``
applies) so the model and the constraint speak the same language; RDKit perceives
the aromatic rings again when it parses the output. Stereo bonds ``/`` ``\\``,
the ``.`` separator, wildcards and condition tags are not generated either.

**Length.** With ``max_tokens`` (use ``max_new_tokens``), a token is allowed only
if the string can still be finished, end token included, within the budget: the
constraint runs a greedy completion (close rings on fresh carbons, close branches)
and counts its tokens. Every row then ends with ``eos`` by itself.

The tokenizer's alphabet must contain ``C`` (the completion uses it).
"""

from __future__ import annotations

from collections.abc import Sequence
import functools
import re
from typing import Any, NamedTuple

from arkit import ConfigError

__all__ = ["SmilesConstraint", "atom_capacity"]

_START, _ATOM, _BRANCH, _BOND, _OPEN, _DONE = range(6)
_BONDS = {"-": 1, "=": 2, "#": 3}
_RING = re.compile(r"^(?:[0-9]|%[0-9]{2})$")
_ORGANIC = {"B", "C", "N", "O", "P", "S", "F", "Cl", "Br", "I"}
_BRACKET = re.compile(r"^\[(\d*)([A-Z][a-z]?)(@{0,2}|@[A-Z]{2}\d+)?(H\d?)?([+-]\d*|\++|-+)?\]$")


@functools.lru_cache(maxsize=None)
def atom_capacity(token: str) -> int:
    """How many bond orders RDKit lets the atom token take (-1: not an atom the constraint generates).

    Measured by parsing ``token(C)(C)...``: the largest ``k`` for which the token with
    ``0, 1, ..., k`` single-bonded carbons all parse and sanitise. Aromatic atoms,
    wildcards and anything that is not an organic-subset or bracket atom give -1.
    """
    from rdkit import Chem, RDLogger

    if token not in _ORGANIC and not _BRACKET.match(token):
        return -1
    RDLogger.DisableLog("rdApp.*")
    capacity = -1
    for k in range(13):
        if Chem.MolFromSmiles(token + "(C)" * k) is None:
            break
        capacity = k
    return capacity


class _State(NamedTuple):
    """Where a row is in the SMILES grammar (immutable: speculative decoding and beams keep several)."""

    n: int  # tokens generated so far
    phase: int  # _START, _ATOM (after an atom or ring digit), _BRANCH (after ")"), _BOND, _OPEN (after "("), _DONE
    cur: int  # the atom the next bond starts from (-1 before the first atom)
    rem: tuple[int, ...]  # valence left per atom
    nbrs: frozenset[int]  # atoms already bonded to `cur` (ring closures must not duplicate a bond)
    stack: tuple[int, ...]  # atoms that open branches return to
    rings: tuple[tuple[str, int, int], ...]  # open ring closures: (label, atom, bond order or 0), sorted
    bond: int  # the pending bond's order in phase _BOND
    ring_ok: bool  # in phase _BOND: the bond follows an atom directly, so a ring digit may come next


class SmilesConstraint:
    """Valid Kekulé SMILES only, finished within ``max_tokens`` generated tokens (eos included).

    ``tokenizer``: a fitted :class:`arkit_molecules.SmilesTokenizer` (anything with
    ``alphabet`` and ``special_tokens`` whose ids are 3 + the alphabet index works).
    ``max_tokens``: the generation budget; ``None`` means no length limit.
    """

    def __init__(self, tokenizer: Any, *, max_tokens: int | None = None) -> None:
        if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 2):
            raise ConfigError(f"max_tokens must be an int >= 2 (an atom and the end), got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.eos = int(tokenizer.special_tokens["eos"])
        offset = len(tokenizer.special_tokens)
        self.atoms: dict[int, list[int]] = {}  # capacity -> ids
        self.bonds: dict[int, int] = {}  # order -> id
        self.ring_ids: dict[str, int] = {}  # label -> id
        self.open_id = self.close_id = self.carbon = -1
        self._kind: dict[int, tuple[str, Any]] = {}
        for index, token in enumerate(tokenizer.alphabet):
            token_id = offset + index
            if token in _BONDS:
                self.bonds[_BONDS[token]] = token_id
                self._kind[token_id] = ("bond", _BONDS[token])
            elif _RING.match(token):
                self.ring_ids[token] = token_id
                self._kind[token_id] = ("ring", token)
            elif token == "(":
                self.open_id = token_id
                self._kind[token_id] = ("open", None)
            elif token == ")":
                self.close_id = token_id
                self._kind[token_id] = ("close", None)
            elif (capacity := atom_capacity(token)) >= 0:
                self.atoms.setdefault(capacity, []).append(token_id)
                self._kind[token_id] = ("atom", capacity)
                if token == "C":
                    self.carbon = token_id
        if self.carbon < 0:
            raise ConfigError("the tokenizer's alphabet has no 'C' token: fit it on organic molecules")
        self._capacities = sorted(self.atoms)

    # -- the constraint protocol ---------------------------------------------------
    def start(self) -> _State:
        return _State(0, _START, -1, (), frozenset(), (), (), 0, False)

    def complete(self, state: _State) -> bool:
        return state.phase == _DONE or (state.phase in (_ATOM, _BRANCH) and not state.stack and not state.rings)

    def allowed(self, state: _State) -> list[int]:
        if state.phase == _DONE:
            return []
        left = None if self.max_tokens is None else self.max_tokens - state.n - 1  # tokens after this one
        ids: list[int] = []
        if self.complete(state):
            ids.append(self.eos)
        if left is not None and left <= 0:
            return ids  # the last slot of the budget: only the end
        for capacity in self._capacities:
            if self._fits(self._atom(state, capacity), left):
                ids.extend(self.atoms[capacity])
        for order, token_id in self.bonds.items():
            if self._fits(self._bond(state, order), left):
                ids.append(token_id)
        for label, token_id in self.ring_ids.items():
            if self._fits(self._ring(state, label), left):
                ids.append(token_id)
        if self.open_id >= 0 and self._fits(self._open(state), left):
            ids.append(self.open_id)
        if self.close_id >= 0 and self._fits(self._close(state), left):
            ids.append(self.close_id)
        return ids

    def advance(self, state: _State, token: int) -> _State:
        if token == self.eos:
            return state._replace(n=state.n + 1, phase=_DONE)
        kind, value = self._kind.get(int(token), ("", None))
        nxt: _State | None
        if kind == "atom":
            nxt = self._atom(state, value)
        elif kind == "bond":
            nxt = self._bond(state, value)
        elif kind == "ring":
            nxt = self._ring(state, value)
        elif kind == "open":
            nxt = self._open(state)
        elif kind == "close":
            nxt = self._close(state)
        else:
            nxt = None
        if nxt is None:
            raise ConfigError(f"token {token} is not allowed after {self._describe(state)}; pick one of allowed(state)")
        return nxt

    # -- transitions: the next state, or None when the grammar or valences forbid the token ------
    def _atom(self, s: _State, capacity: int) -> _State | None:
        if s.phase == _START:
            return s._replace(n=s.n + 1, phase=_ATOM, cur=0, rem=(capacity,), nbrs=frozenset())
        if s.phase == _DONE:
            return None
        order = s.bond if s.phase == _BOND else 1
        if capacity < order or s.rem[s.cur] < order:
            return None
        rem = list(s.rem)
        rem[s.cur] -= order
        rem.append(capacity - order)
        return s._replace(n=s.n + 1, phase=_ATOM, cur=len(s.rem), rem=tuple(rem), nbrs=frozenset((s.cur,)), bond=0)

    def _bond(self, s: _State, order: int) -> _State | None:
        if s.phase not in (_ATOM, _BRANCH, _OPEN) or s.rem[s.cur] < order:
            return None
        return s._replace(n=s.n + 1, phase=_BOND, bond=order, ring_ok=s.phase == _ATOM)

    def _ring(self, s: _State, label: str) -> _State | None:
        if not (s.phase == _ATOM or (s.phase == _BOND and s.ring_ok)):
            return None
        given = s.bond if s.phase == _BOND else 0
        rem = list(s.rem)
        for i, (open_label, holder, opened) in enumerate(s.rings):
            if open_label != label:
                continue
            # closing: a new bond between `holder` and the current atom
            if given and opened and given != opened:
                return None
            order = given or opened or 1
            reserved = opened or 1
            if holder == s.cur or holder in s.nbrs or rem[s.cur] < order or rem[holder] < order - reserved:
                return None
            rem[s.cur] -= order
            rem[holder] -= order - reserved
            rings = s.rings[:i] + s.rings[i + 1:]
            return s._replace(n=s.n + 1, phase=_ATOM, rem=tuple(rem), nbrs=s.nbrs | {holder}, rings=rings, bond=0)
        # opening: reserve the bond on the current atom (triple ring bonds only when closing)
        reserved = given or 1
        if given == 3 or rem[s.cur] < reserved:
            return None
        rem[s.cur] -= reserved
        rings = tuple(sorted((*s.rings, (label, s.cur, given))))
        return s._replace(n=s.n + 1, phase=_ATOM, rem=tuple(rem), rings=rings, bond=0)

    def _open(self, s: _State) -> _State | None:
        if s.phase not in (_ATOM, _BRANCH) or s.rem[s.cur] < 1:
            return None
        return s._replace(n=s.n + 1, phase=_OPEN, stack=(*s.stack, s.cur))

    def _close(self, s: _State) -> _State | None:
        if s.phase not in (_ATOM, _BRANCH) or not s.stack:
            return None
        return s._replace(n=s.n + 1, phase=_BRANCH, cur=s.stack[-1], stack=s.stack[:-1])

    # -- can the string still be finished in time? ------------------------------------
    def _fits(self, s: _State | None, left: int | None) -> bool:
        if s is None:
            return False
        pending = s.phase in (_START, _BOND, _OPEN)
        if not s.rings:
            return left is None or pending + len(s.stack) + 1 <= left  # + 1: the end token
        # With open rings the completion gets stuck only if no atom it can reach has a free valence.
        if not pending and s.rem[s.cur] < 1 and all(s.rem[a] < 1 for a in s.stack):
            return False
        if left is None or 2 + 2 * len(s.rings) + len(s.stack) + 1 <= left:  # a bound on the completion's length
            return True
        needed = self.tokens_to_finish(s)
        return needed is not None and needed + 1 <= left

    def tokens_to_finish(self, s: _State) -> int | None:
        """Tokens a greedy completion needs before ``eos`` (``None``: the state cannot be completed).

        The completion: after a bond or ``(``, add ``C``; close each open ring on the
        current atom when it keeps a free valence for the rest (or is the last ring),
        otherwise grow a fresh ``C``; when the current atom is saturated, leave its
        branch; finally close the open branches.
        """
        if not s.rings:  # the common case, in closed form
            return (s.phase in (_START, _BOND, _OPEN)) + len(s.stack)
        count = 0
        limit = 4 * (len(s.rings) + len(s.stack)) + 4
        while count <= limit:
            if s.phase in (_START, _BOND, _OPEN):
                nxt = self._atom(s, 4)
            elif s.rings:
                nxt = None
                if s.phase == _ATOM:
                    last = len(s.rings) == 1
                    for label, holder, opened in s.rings:
                        if holder != s.cur and holder not in s.nbrs and s.rem[s.cur] - (opened or 1) >= (0 if last else 1):
                            nxt = self._ring(s, label)
                            break
                if nxt is None:
                    nxt = self._atom(s, 4) if s.rem[s.cur] >= 1 else self._close(s)
            elif s.stack:
                nxt = self._close(s)
            else:
                return count
            if nxt is None:
                return None
            s, count = nxt, count + 1
        return None  # pragma: no cover - the completion always terminates well before the limit

    def _describe(self, s: _State) -> str:
        names = {_START: "the start", _ATOM: "an atom", _BRANCH: "a branch", _BOND: "a bond", _OPEN: "'('",
                 _DONE: "the end"}
        return f"{names[s.phase]} (generated position {s.n})"

    def check(self, ids: Sequence[int]) -> bool:
        """Whether the constraint would accept ``ids`` (generated tokens, ``eos`` optional) from the start."""
        state = self.start()
        for token in ids:
            if token not in self.allowed(state):
                return False
            state = self.advance(state, token)
            if state.phase == _DONE:
                return True
        return self.complete(state)
