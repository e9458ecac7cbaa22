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

**Ring size.** With ``max_ring_size=N``, a ring-closure digit is allowed only if
the ring it closes has at most ``N`` atoms: the constraint keeps the bonds placed so
far and measures the shortest path, through the partial molecule, between the atom
holding the open ring bond and the current atom (``path + 1`` atoms). Since every
closure bond then lies on a cycle of at most ``N`` atoms when it is made, RDKit's
smallest set of smallest rings of the finished molecule has no ring larger than
``N`` either (the closure-time cycles form a cycle basis whose largest member bounds
the smallest basis's). Several closures on one atom count in the best order: in
``...C=CC=C12`` (a fused bicycle), closure ``1`` alone would span the whole
bicycle, but after closure ``2`` it closes a six-ring, so ``1`` is accepted as
*pending* and the atom cannot be left until a later closure on it has made every
pending one small. A ring is only opened, and an atom only added, when the string
can still be finished with every open ring closed within ``N``. A bridged system
written so that a closure first spans more than ``N`` atoms (before a bond on a
later atom adds its chord) is refused in that spelling.

**Length.** With ``max_tokens`` (use ``max_new_tokens``), a token is allowed only
if the string can still be finished, end token included, within the budget: the
constraint runs a greedy completion (close rings on fresh carbons, close branches)
and counts its tokens. Every row then ends with ``eos`` by itself.

The tokenizer's alphabet must contain ``C`` (the completion uses it).

Registered as the constraint ``molecules/smiles``: its config (the alphabet, the
special ids, ``max_tokens`` and ``max_ring_size``) is JSON, so a pipeline that holds
one saves it in ``pipeline.json``. Build it from a fitted tokenizer with
``SmilesConstraint(tokenizer, ...)`` or by name with
``arkit.create("constraint", "molecules/smiles", alphabet=[...], max_ring_size=7)``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
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
_SPECIAL = {"pad": 0, "bos": 1, "eos": 2}  # the ids of arkit_molecules' alphabet tokenizers


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
    adj: tuple[tuple[int, ...], ...]  # the bonds so far: the neighbours of each atom (for ring sizes)
    pending: tuple[int, ...]  # ring closures on `cur` (their other atoms) whose ring is not yet small enough


@functools.lru_cache(maxsize=8192)
def _distances(adj: tuple[tuple[int, ...], ...], source: int) -> tuple[int, ...]:
    """Bonds on the shortest path from ``source`` to each atom of the partial molecule (-1: not connected)."""
    dist = [-1] * len(adj)
    dist[source] = 0
    queue = deque((source,))
    while queue:
        atom = queue.popleft()
        for other in adj[atom]:
            if dist[other] < 0:
                dist[other] = dist[atom] + 1
                queue.append(other)
    return tuple(dist)


def _replay(constraint: Any, ids: Sequence[int], done: Callable[[Any], bool]) -> bool:
    """Whether ``constraint`` accepts ``ids`` from its start: every token allowed where it comes, and the sequence
    complete at its end (or ``done`` on the way, after which the rest is not read)."""
    state = constraint.start()
    for token in ids:
        if token not in constraint.allowed(state):
            return False
        state = constraint.advance(state, token)
        if done(state):
            return True
    return bool(constraint.complete(state))


def _alphabet_and_specials(tokenizer: Any, alphabet: Sequence[str] | None, special_tokens: Mapping[str, int] | None,
                           name: str, tokenizer_name: str) -> tuple[tuple[str, ...], dict[str, int]]:
    """A constraint's alphabet and special ids, from a fitted tokenizer or given as its JSON config holds them."""
    if tokenizer is not None:
        if alphabet is not None or special_tokens is not None:
            raise ConfigError("give either a tokenizer or alphabet/special_tokens, not both")
        alphabet, special_tokens = tokenizer.alphabet, tokenizer.special_tokens
    if alphabet is None:
        raise ConfigError(f"{name} needs the tokenizer's alphabet: pass a fitted {tokenizer_name} or alphabet=[...]")
    if isinstance(alphabet, str) or not all(isinstance(t, str) for t in alphabet):
        raise ConfigError(f"alphabet must be a list of token strings, got {alphabet!r}")
    special = dict(_SPECIAL if special_tokens is None else special_tokens)
    if "eos" not in special or not all(isinstance(v, int) and not isinstance(v, bool) for v in special.values()):
        raise ConfigError(f"special_tokens must map names to int ids and include 'eos', got {special!r}")
    return tuple(alphabet), special


def _bonded(adj: tuple[tuple[int, ...], ...], a: int, b: int) -> tuple[tuple[int, ...], ...]:
    """``adj`` with a bond between the existing atoms ``a`` and ``b``."""
    out = list(adj)
    out[a] = (*adj[a], b)
    out[b] = (*adj[b], a)
    return tuple(out)


class SmilesConstraint:
    """Valid Kekulé SMILES only, finished within ``max_tokens`` generated tokens (eos included).

    ``tokenizer``: a fitted :class:`arkit_molecules.SmilesTokenizer` (anything with
    ``alphabet`` and ``special_tokens`` whose ids are ``len(special_tokens)`` + the
    alphabet index works); or, instead, ``alphabet`` (and ``special_tokens``, by
    default ``pad`` 0, ``bos`` 1, ``eos`` 2), which is what the JSON config holds.
    ``max_tokens``: the generation budget; ``None`` means no length limit.
    ``max_ring_size``: the most atoms a ring may have (>= 3); ``None`` means no limit.
    """

    def __init__(self, tokenizer: Any = None, *, alphabet: Sequence[str] | None = None,
                 special_tokens: Mapping[str, int] | None = None, max_tokens: int | None = None,
                 max_ring_size: int | None = None) -> None:
        if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool)
                                       or max_tokens < 2):
            raise ConfigError(f"max_tokens must be an int >= 2 (an atom and the end), got {max_tokens!r}")
        if max_ring_size is not None and (not isinstance(max_ring_size, int) or isinstance(max_ring_size, bool)
                                          or max_ring_size < 3):
            raise ConfigError(f"max_ring_size must be an int >= 3 (the smallest ring has 3 atoms) or None, "
                              f"got {max_ring_size!r}")
        self.alphabet, special = _alphabet_and_specials(tokenizer, alphabet, special_tokens, "SmilesConstraint",
                                                        "SmilesTokenizer")
        self.special_tokens = special
        self.max_tokens = max_tokens
        self.max_ring_size = max_ring_size
        self.eos = int(special["eos"])
        offset = len(special)
        self.atoms: dict[int, list[int]] = {}  # capacity -> ids
        self.bonds: dict[int, int] = {}  # order -> id
        self.ring_ids: dict[str, int] = {}  # label -> id
        self.open_id = self.close_id = self.carbon = -1
        self._kind: dict[int, tuple[str, Any]] = {}
        for index, token in enumerate(self.alphabet):
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

    @property
    def config(self) -> dict[str, Any]:
        """JSON: ``arkit.create("constraint", "molecules/smiles", **config)`` rebuilds this constraint."""
        return {"alphabet": list(self.alphabet), "special_tokens": dict(self.special_tokens),
                "max_tokens": self.max_tokens, "max_ring_size": self.max_ring_size}

    # -- the constraint protocol ---------------------------------------------------
    def start(self) -> _State:
        return _State(0, _START, -1, (), frozenset(), (), (), 0, False, (), ())

    def complete(self, state: _State) -> bool:
        return state.phase == _DONE or (state.phase in (_ATOM, _BRANCH) and not state.stack and not state.rings
                                        and not state.pending)

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
            return s._replace(n=s.n + 1, phase=_ATOM, cur=0, rem=(capacity,), nbrs=frozenset(), adj=((),))
        if s.phase == _DONE or s.pending:
            return None
        order = s.bond if s.phase == _BOND else 1
        if capacity < order or s.rem[s.cur] < order:
            return None
        rem = list(s.rem)
        rem[s.cur] -= order
        rem.append(capacity - order)
        new = len(s.rem)
        adj = (*s.adj[:s.cur], (*s.adj[s.cur], new), *s.adj[s.cur + 1:], (s.cur,))
        return s._replace(n=s.n + 1, phase=_ATOM, cur=new, rem=tuple(rem), nbrs=frozenset((s.cur,)), bond=0,
                          adj=adj)

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
            if self._ring_fits(s, holder):
                adj, pending = self._settle(_bonded(s.adj, holder, s.cur), s.cur, s.pending)
            else:  # too large for now: a later closure on this atom may still make it small
                adj, pending = s.adj, tuple(sorted((*s.pending, holder)))
            rem[s.cur] -= order
            rem[holder] -= order - reserved
            rings = s.rings[:i] + s.rings[i + 1:]
            return s._replace(n=s.n + 1, phase=_ATOM, rem=tuple(rem), nbrs=s.nbrs | {holder}, rings=rings, bond=0,
                              adj=adj, pending=pending)
        # opening: reserve the bond on the current atom (triple ring bonds only when closing)
        reserved = given or 1
        if given == 3 or rem[s.cur] < reserved:
            return None
        rem[s.cur] -= reserved
        rings = tuple(sorted((*s.rings, (label, s.cur, given))))
        return s._replace(n=s.n + 1, phase=_ATOM, rem=tuple(rem), rings=rings, bond=0)

    def _open(self, s: _State) -> _State | None:
        if s.phase not in (_ATOM, _BRANCH) or s.rem[s.cur] < 1 or s.pending:
            return None
        return s._replace(n=s.n + 1, phase=_OPEN, stack=(*s.stack, s.cur))

    def _close(self, s: _State) -> _State | None:
        if s.phase not in (_ATOM, _BRANCH) or not s.stack or s.pending:
            return None
        return s._replace(n=s.n + 1, phase=_BRANCH, cur=s.stack[-1], stack=s.stack[:-1])

    def _ring_fits(self, s: _State, holder: int, extra: int = 0) -> bool:
        """Whether closing a ring from ``holder`` to the current atom (``extra`` fresh atoms further on) keeps
        the ring within ``max_ring_size`` atoms."""
        if self.max_ring_size is None:
            return True
        return _distances(s.adj, s.cur)[holder] + 1 + extra <= self.max_ring_size

    def _settle(self, adj: tuple[tuple[int, ...], ...], cur: int,
                pending: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], ...], tuple[int, ...]]:
        """Add the pending closures on ``cur`` that now close small enough rings, one at a time, while any does."""
        limit = self.max_ring_size
        while pending and limit is not None:
            dist = _distances(adj, cur)
            fits = [h for h in pending if 0 <= dist[h] and dist[h] + 1 <= limit]
            if not fits:
                break
            adj, pending = _bonded(adj, fits[0], cur), tuple(h for h in pending if h != fits[0])
        return adj, pending

    # -- can the string still be finished in time? ------------------------------------
    def _fits(self, s: _State | None, left: int | None) -> bool:
        if s is None or (s.pending and not s.rings):  # nothing left to close that could settle a pending ring
            return False
        pending = s.phase in (_START, _BOND, _OPEN)
        if not s.rings:
            return left is None or pending + len(s.stack) + 1 <= left  # + 1: the end token
        # With open rings the completion gets stuck only if no atom it can reach has a free valence.
        if not pending and s.rem[s.cur] < 1 and all(s.rem[a] < 1 for a in s.stack):
            return False
        # Without a ring-size limit, a bound on the completion's length; with one, the completion must be run.
        if self.max_ring_size is None and (left is None or 2 + 2 * len(s.rings) + len(s.stack) + 1 <= left):
            return True
        needed = self.tokens_to_finish(s)
        return needed is not None and (left is None or needed + 1 <= left)

    def tokens_to_finish(self, s: _State) -> int | None:
        """Tokens a greedy completion needs before ``eos`` (``None``: the state cannot be completed).

        The completion: after a bond or ``(``, add ``C``; close each open ring on the
        current atom when it keeps a free valence for the rest (or is the last ring)
        and the ring fits ``max_ring_size``, otherwise grow a fresh ``C`` (with a ring
        limit: only if a ring could then close on it); when the current atom is
        saturated (or too far from every open ring), leave its branch; finally close
        the open branches.
        """
        if not s.rings:  # the common case, in closed form
            return None if s.pending else (s.phase in (_START, _BOND, _OPEN)) + len(s.stack)
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
                        if holder == s.cur or holder in s.nbrs or not self._ring_fits(s, holder):
                            continue
                        spare = s.rem[s.cur] - (opened or 1)
                        if spare >= (0 if last else 1):
                            nxt = self._ring(s, label)
                            break
                        if s.pending and spare >= 0:  # settling a pending ring may use the atom's last valence
                            settled = self._ring(s, label)
                            if settled is not None and len(settled.pending) < len(s.pending):
                                nxt = settled
                                break
                if nxt is None:
                    grow = (s.rem[s.cur] >= 1 and not s.pending
                            and any(self._ring_fits(s, holder, 1) for _, holder, _ in s.rings))
                    nxt = self._atom(s, 4) if grow else self._close(s)
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
        return _replay(self, ids, lambda state: state.phase == _DONE)
