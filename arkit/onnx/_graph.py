"""The step graph that gets exported: backbone + head with the KV cache as plain tensors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["StepGraph", "input_names", "output_names"]


def input_names(num_layers: int, *, continuous: bool = False, extra: Sequence[str] = ()) -> list[str]:
    """Token ids in, or real vectors (``inputs``) for a continuous pipeline; then positions, mask, the
    backbone's extra inputs (its export spec's names) and the past."""
    return ["inputs" if continuous else "input_ids", "positions", "attention_mask", *extra] + [
        f"past.{i}.{kv}" for i in range(num_layers) for kv in ("key", "value")
    ]


def output_names(num_layers: int, *, continuous: bool = False, medusa: bool = False) -> list[str]:
    """Logits (or a continuous head's raw distribution ``params``), Medusa guesses when exported, the presents."""
    return ["params" if continuous else "logits"] + (["medusa_tokens"] if medusa else []) + [
        f"present.{i}.{kv}" for i in range(num_layers) for kv in ("key", "value")
    ]


class _TensorCache:
    """A cache over given past tensors: ``update`` concatenates and records the presents."""

    def __init__(self, past: tuple[torch.Tensor, ...]) -> None:
        self.past, self.presents = past, []  # type: tuple[torch.Tensor, ...], list[torch.Tensor]

    @property
    def seq_len(self) -> Any:
        return self.past[0].shape[2]

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        key = torch.cat([self.past[2 * layer], key], 2)
        value = torch.cat([self.past[2 * layer + 1], value], 2)
        self.presents += [key, value]
        return key, value


class StepGraph(nn.Module):
    """``(input_ids, positions, attention_mask, *extra, *past) -> (logits, *present)``: one graph for prefill
    and decode.

    For a continuous pipeline (head ``vocab_size`` 0) the first input is real
    vectors and the first output the head's ``params(hidden)``. ``extra`` are the
    backbone's declared extra inputs (``extra`` names them, in order), passed to it
    by keyword. With Medusa heads the second output is ``medusa_tokens``
    ``[B, T, num_heads]``: each head's top-1 guess at every position, so drafting
    needs no hidden states outside the graph.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, medusa: nn.Module | None = None,
                 extra: Sequence[str] = ()) -> None:
        super().__init__()
        self.backbone, self.head, self.medusa = backbone, head, medusa
        self.continuous = head.vocab_size == 0
        self.extra = tuple(extra)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention_mask: torch.Tensor,
                *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = len(self.extra)
        cache = _TensorCache(rest[n:])
        hidden = self.backbone(input_ids, positions=positions, cache=cache, attention_mask=attention_mask,
                               **dict(zip(self.extra, rest[:n])))
        out = self.head.params(hidden) if self.continuous else self.head(hidden)
        if self.medusa is None:
            return (out, *cache.presents)
        return (out, self.medusa(hidden).argmax(-1), *cache.presents)
