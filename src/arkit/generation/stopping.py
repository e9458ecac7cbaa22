"""Why a row stops: end-of-sequence, a stop sequence, its length limits, or the end of its constraint.

The rules, checked in this order after each emitted token:

1. ``"eos"``: the token is an end-of-sequence id;
2. ``"stop_sequence"``: the row's tokens (prompt included) end with a stop sequence;
3. ``"length"``: the row has ``max_new_tokens`` tokens;
4. ``"max_length"``: prompt plus generated tokens fill the context;
5. ``"constraint"``: the constraint's state is complete and allows nothing more.

:func:`finish_reason` applies 1-4 to one row; :meth:`Stopping.step` applies them to a
whole batch at once with tensor operations (the plain loop's lean path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from ..types import FinishReason, GenerationConfig

if TYPE_CHECKING:
    from ..protocols import Constraint
    from .request import Request

__all__ = ["REASONS", "Stopping", "constraint_done", "finish_reason"]

REASONS: tuple[FinishReason | None, ...] = (None, "eos", "stop_sequence", "length", "max_length", "constraint")
"""The finish reason of each code :meth:`Stopping.step` returns (``0``: the row goes on)."""
_EOS, _STOP, _LENGTH, _MAX_LENGTH, _CONSTRAINT = 1, 2, 3, 4, 5


def finish_reason(
    token: int, row: torch.Tensor | Sequence[int], produced: int, prompt_length: int, config: GenerationConfig,
    eos: frozenset[int], stops: Sequence[Sequence[int]], context: int,
) -> FinishReason | None:
    """Why a row stops after emitting ``token`` (``row``: its tokens so far, ending with it), or ``None``."""
    if token in eos:
        return "eos"
    if stops and any(_ends_with(row, s) for s in stops):
        return "stop_sequence"
    if produced >= config.max_new_tokens:
        return "length"
    if prompt_length + produced >= context:
        return "max_length"
    return None


def _ends_with(row: torch.Tensor | Sequence[int], stop: Sequence[int]) -> bool:
    n = len(stop)
    if len(row) < n:
        return False
    tail = row[-n:]
    return (tail.tolist() if isinstance(tail, torch.Tensor) else list(tail)) == list(stop)


def constraint_done(constraint: Constraint, state: Any) -> bool:
    """A complete state from which nothing more is allowed ends the row."""
    if not constraint.complete(state):
        return False
    allowed = constraint.allowed(state)
    return not bool(allowed.any()) if isinstance(allowed, torch.Tensor) else len(allowed) == 0


class Stopping:
    """The stopping rules of one request, for rows with the given prompt lengths."""

    def __init__(self, request: Request, prompt_lengths: Sequence[int], device: torch.device | None = None) -> None:
        self.config = request.config
        self.eos = request.eos
        self.context = request.context
        self.constraint = request.constraint
        self.prompt_lengths = list(prompt_lengths)
        self.stops = [list(s) for s in request.config.stop_sequences]
        device = device if device is not None else torch.device("cpu")
        self._eos_ids = torch.tensor(sorted(self.eos), dtype=torch.long, device=device)
        self._idle = not self.eos and not self.stops
        self._stop_ids = [torch.tensor(s, dtype=torch.long, device=device) for s in self.stops]
        limits = [min(self.config.max_new_tokens, self.context - n) for n in self.prompt_lengths]
        self._first_limit = min(limits, default=0)  # no row can reach a length limit before this many tokens
        self._limits = torch.tensor(limits, dtype=torch.long, device=device)
        self._limit_codes = torch.tensor([_LENGTH if self.config.max_new_tokens <= self.context - n else _MAX_LENGTH
                                          for n in self.prompt_lengths], dtype=torch.long, device=device)

    def reason(self, row: int, token: int, tokens: torch.Tensor | Sequence[int], produced: int) -> FinishReason | None:
        """Rules 1-4 for ``row`` after it emitted ``token``: ``tokens`` ends with it, ``produced`` counts it."""
        return finish_reason(token, tokens, produced, self.prompt_lengths[row], self.config, self.eos, self.stops,
                             self.context)

    def advance(self, state: Any, token: int) -> tuple[Any, bool]:
        """Rule 5: the constraint's state after ``token``, and whether it ends the row."""
        assert self.constraint is not None
        state = self.constraint.advance(state, token)
        return state, constraint_done(self.constraint, state)

    def idle(self, produced: int) -> bool:
        """Whether no rule can end a row that has ``produced`` tokens: no end-of-sequence ids, no stop
        sequences, and no length limit reached (then :meth:`step` would return ``None``)."""
        return self._idle and produced < self._first_limit

    def step(self, tokens: torch.Tensor, produced: int, history: torch.Tensor) -> torch.Tensor | None:
        """Rules 1-4 for every row at once, when each row has ``produced`` tokens counting its new one.

        ``tokens``: each row's new token; ``history``: ``[B, t + 1]`` slots whose last column holds
        them (the rows' tokens, left-padded with ``-1``). Returns ``LongTensor[B]`` of codes into
        :data:`REASONS` (``0``: go on), or ``None`` when no rule can end a row at this step
        (no end-of-sequence ids, no stop sequence, no length limit reached): then nothing is computed.
        """
        codes = None
        if produced >= self._first_limit:
            codes = torch.where(produced >= self._limits, self._limit_codes, 0)
        width = history.shape[1]
        for stop in self._stop_ids:
            n = stop.shape[0]
            if width >= n:
                hit = (history[:, width - n:] == stop).all(-1)
                codes = torch.where(hit, _STOP, 0 if codes is None else codes)
        if self._eos_ids.numel():
            hit = torch.isin(tokens, self._eos_ids)
            codes = torch.where(hit, _EOS, 0 if codes is None else codes)
        return codes
