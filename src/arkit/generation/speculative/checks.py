"""What a drafter returns, checked before the target sees it.

A draft that breaks its contract (wrong type, shape or dtype, ids outside the
target's vocabulary, a tree listing children before parents, probabilities over
another vocabulary) raises :class:`arkit.GenerationError` naming what was wrong,
instead of a shape error deep inside the target's forward pass.
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import GenerationError
from ...types import Draft

__all__ = ["check_draft"]


def check_draft(draft: Any, rows: int, k: int, vocab: int) -> None:
    """Raise :class:`arkit.GenerationError` unless ``draft`` is a valid :class:`arkit.Draft` of ``k`` tokens per row."""
    if not isinstance(draft, Draft):
        raise GenerationError(f"the drafter must return an arkit.Draft, got {type(draft).__name__}")
    tokens = draft.tokens
    if not isinstance(tokens, torch.Tensor) or tokens.shape != (rows, k) or tokens.dtype != torch.long:
        raise GenerationError(f"the drafter returned tokens {_dtype(tokens)} of shape {_shape(tokens)}; expected a "
                              f"LongTensor of shape {(rows, k)}")
    low, high = tokens.aminmax() if tokens.numel() else (0, 0)  # one reduction
    if int(low) < 0 or int(high) >= vocab:
        raise GenerationError(f"the drafter proposed ids outside the target's vocabulary [0, {vocab}): check that "
                              f"drafter and target share a tokenizer")
    parents = draft.parents
    if parents is not None:
        if not isinstance(parents, torch.Tensor) or parents.shape != (rows, k) or parents.dtype != torch.long:
            raise GenerationError(f"the drafter's parents must be a LongTensor of shape {(rows, k)}, got "
                                  f"{_dtype(parents)} {_shape(parents)}")
        index = torch.arange(k, device=parents.device)
        if bool(((parents < -1) | (parents >= index)).any()):
            raise GenerationError("a tree draft's parents[b, i] must be -1 (the pending token) or an earlier "
                                  "node (< i): list nodes parents first")
    probs = draft.probs
    if probs is not None and (not isinstance(probs, torch.Tensor) or tuple(probs.shape) != (rows, k, vocab)):
        raise GenerationError(f"the drafter's probs have shape {_shape(probs)}; expected {(rows, k, vocab)} "
                              f"(the target's vocabulary is {vocab})")


def _shape(x: Any) -> tuple[int, ...] | str:
    return tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__


def _dtype(x: Any) -> str:
    return str(x.dtype) if isinstance(x, torch.Tensor) else type(x).__name__
