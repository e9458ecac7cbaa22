"""The one step from a model's logits to the sampler's scores. Every loop calls it.

:class:`Scoring`, in this order:

1. the logits as float32, with a NaN check (a diverged model fails here, loudly);
2. classifier-free guidance: rows ``B .. 2B-1`` are the unconditional twins of rows
   ``0 .. B-1``, mixed as ``uncond + scale * (cond - uncond)``;
3. the constraint: ids it does not allow in a row's state get ``-inf``;
4. any further allowed-mask the loop passes (a block schedule's);
5. minimum length: end-of-sequence ids get ``-inf`` in rows that have fewer than
   ``min_new_tokens`` tokens;
6. the sampler's ``process`` (temperature, truncation, penalties...), which reads the
   tokens so far.

Plain sampling, beam search, speculative decoding, next-scale and block-wise
generation all go through it, so an option means the same thing in each.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
from typing import TYPE_CHECKING, Any

import attrs
import torch

from ..errors import ConfigError, ConstraintError, GenerationError

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..protocols import Constraint, Sampler
    from .request import Request

__all__ = ["SKIP", "Scoring", "checked_allowed", "guide"]

SKIP: Any = object()
"""A row's entry in ``states`` that means "do not mask this row" (a finished row, a position off the draft's path).
Any other value, ``None`` included, is a constraint state."""


@attrs.define
class Scoring:
    """Logits to scores for one request: guidance, constraint, minimum length, then the sampler."""

    sampler: Sampler
    guidance_scale: float = 1.0
    constraint: Constraint | None = None
    eos: tuple[int, ...] = ()
    """End-of-sequence ids (sorted): what ``min_new_tokens`` holds back."""
    min_new_tokens: int = 0
    _eos_hot: dict[tuple[int, torch.device], torch.Tensor] = attrs.field(factory=dict, init=False, repr=False)

    @classmethod
    def of(cls, pipe: Pipeline, request: Request) -> Scoring:
        """The scoring step of ``request`` on ``pipe``."""
        return cls(sampler=pipe.sampler, guidance_scale=request.config.guidance_scale, constraint=request.constraint,
                   eos=tuple(sorted(request.eos)), min_new_tokens=request.config.min_new_tokens)

    def __call__(
        self,
        logits: torch.Tensor,
        context: torch.Tensor,
        *,
        produced: torch.Tensor | Sequence[int] | int | None = None,
        states: Sequence[Any | None] | None = None,
        allowed: torch.Tensor | None = None,
        step: int = 0,
        strict: bool = True,
    ) -> torch.Tensor:
        """Scores ``[B, V]`` (or ``[B, n, V]``) from logits ``[R, V]`` (or ``[R, n, V]``); ``R`` is ``2B`` under guidance.

        - ``context``: ``LongTensor[B, T]``, the tokens before the scored position (``-1``: no token);
          with ``n`` positions per row every position reads the same context.
        - ``produced``: tokens each row has generated before this position (for ``min_new_tokens``).
        - ``states``: each row's constraint state; :data:`SKIP` for a row that is not masked (finished).
        - ``allowed``: ``BoolTensor`` shaped like the scores, ids allowed besides the constraint.
        - ``step``: the generated position, for error messages. ``strict``: see :meth:`constraint_mask`.
        """
        if logits.dtype != torch.float32:  # (a float32 model's logits are used as they are: no copy, no call)
            logits = logits.float()
        if math.isnan(logits.max()):  # max propagates NaN: one reduction finds any
            raise GenerationError(f"the model produced NaN logits at generated position {step}; check the weights "
                                  f"(a diverged training run?)")
        if self.guidance_scale != 1.0:
            logits = guide(logits, self.guidance_scale)
        if self.constraint is not None and states is not None:
            mask = self.constraint_mask(states, logits.shape[-1], logits.device, step=step, strict=strict)
            logits = logits.masked_fill(~mask, float("-inf"))
        if allowed is not None:
            logits = logits.masked_fill(~allowed, float("-inf"))
        if self.eos and self.min_new_tokens and produced is not None:
            logits = self._hold_back_eos(logits, produced)
        if logits.dim() == 3:  # n positions per row, one context: the sampler sees B * n rows
            B, n, V = logits.shape
            return self.sampler.process(logits.reshape(B * n, V), context.repeat_interleave(n, dim=0)).view(B, n, V)
        return self.sampler.process(logits, context)

    def _hold_back_eos(self, logits: torch.Tensor, produced: torch.Tensor | Sequence[int] | int) -> torch.Tensor:
        if isinstance(produced, int):
            if produced >= self.min_new_tokens:
                return logits
            early = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device)
        else:
            early = torch.as_tensor(produced, device=logits.device) < self.min_new_tokens
        key = (logits.shape[-1], logits.device)
        hot = self._eos_hot.get(key)
        if hot is None:
            hot = self._eos_hot[key] = torch.zeros(logits.shape[-1], dtype=torch.bool, device=logits.device)
            hot[list(self.eos)] = True
        early = early.view(-1, *([1] * (logits.dim() - 1)))
        return logits.masked_fill(early & hot, float("-inf"))

    def constraint_mask(self, states: Sequence[Any | None], vocab: int, device: torch.device, *, step: int = 0,
                        strict: bool = True) -> torch.Tensor:
        """``BoolTensor[B, V]``: the ids the constraint allows in each row's state (all ids where it is :data:`SKIP`).

        A row whose constraint allows nothing: with ``strict``, a dead end (an incomplete state)
        raises :class:`arkit.ConstraintError` naming row and position, and a complete state masks
        every id; without ``strict`` (a draft position the row may never reach) the row is left unmasked.
        """
        return self.constraint_masks(states, vocab, device, step=step, strict=strict)[0]

    def constraint_masks(self, states: Sequence[Any | None], vocab: int, device: torch.device, *, step: int = 0,
                         strict: bool = True) -> tuple[torch.Tensor, list[bool]]:
        """:meth:`constraint_mask`, and for each row whether its constraint allows nothing (``False`` for a skipped row).

        Rows whose state is :data:`SKIP` are left unmasked; a ``None`` state is a state like any other.
        """
        if self.constraint is None:
            raise ConfigError("constraint_mask needs a Scoring with a constraint")
        mask = torch.ones(len(states), vocab, dtype=torch.bool, device=device)
        nothing = [False] * len(states)
        for row, state in enumerate(states):
            if state is SKIP:
                continue
            allowed = checked_allowed(self.constraint, state, vocab)
            if isinstance(allowed, torch.Tensor):
                allowed = allowed.to(device=device, dtype=torch.bool)
                empty = not bool(allowed.any())
            else:
                empty = len(allowed) == 0
            if empty:
                nothing[row] = True
                if not strict:
                    continue
                if not self.constraint.complete(state):
                    raise ConstraintError(
                        f"the constraint allows no token for row {row} at generated position {step}: "
                        f"its rule has a dead end there; fix the constraint or its start state"
                    )
            if isinstance(allowed, torch.Tensor):
                mask[row] = allowed
            else:
                mask[row] = False
                if len(allowed):
                    mask[row, allowed] = True
        return mask, nothing


def guide(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance over stacked rows: the first half conditional, the second their
    unconditional twins; returns ``uncond + scale * (cond - uncond)`` for the first half."""
    B = logits.shape[0] // 2
    cond, uncond = logits[:B].float(), logits[B:].float()
    return uncond + scale * (cond - uncond)


def checked_allowed(constraint: Constraint, state: Any, vocab: int) -> torch.Tensor | list[int]:
    """``constraint.allowed(state)`` as a ``[vocab]`` mask or a list of ids, checked against the vocabulary.

    Raises :class:`arkit.ConstraintError` naming the id (or the mask's length) and the vocabulary
    when the constraint allows a token the model does not have.
    """
    allowed = constraint.allowed(state)
    name = type(constraint).__name__
    if isinstance(allowed, torch.Tensor):
        if allowed.dim() != 1 or allowed.shape[0] != vocab:
            raise ConstraintError(f"the constraint {name} returned an allowed-mask of shape {list(allowed.shape)}; "
                                  f"the model's vocabulary has {vocab} ids, so it must be a [{vocab}] mask")
        return allowed
    ids = list(allowed)
    if not ids:
        return ids
    try:
        tensor = torch.as_tensor(ids)
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or tensor.dim() != 1 or tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ConstraintError(f"the constraint {name} allowed {ids[:5]!r}..., not token ids (ints)")
    outside = tensor[(tensor < 0) | (tensor >= vocab)]
    if outside.numel():
        raise ConstraintError(f"the constraint {name} allows token id {int(outside[0])}, outside the model's "
                              f"vocabulary [0, {vocab}): build the constraint for this model's tokenizer")
    return tensor.tolist()
