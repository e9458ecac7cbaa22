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


class _FusedCache(_TensorCache):
    """A cache whose ``attend`` is onnxruntime's fused GroupQueryAttention: the decode graph's attention.

    The built-in transformer hands it each layer's packed ``[q | k | v]`` projection
    and its additive mask, and gets the attention output ``[B, T, H * D]`` back;
    rotary embedding happens inside, at ``positions``.
    """

    def __init__(self, past: tuple[torch.Tensor, ...], backbone: nn.Module, positions: torch.Tensor,
                 slots: Any) -> None:
        super().__init__(past)
        half = backbone.head_dim // 2
        self.cos, self.sin = backbone.rope_cos[:, :half], backbone.rope_sin[:, half:]  # [L, D/2]: cos, +sin
        self.heads, self.kv_heads = backbone.d_model // backbone.head_dim, backbone.n_kv_heads
        self.positions, self.slots = positions, slots
        self.seqlens = torch.full((positions.shape[0],), slots - 1, dtype=torch.int32, device=positions.device)
        self.total = torch.full((), slots, dtype=torch.int32, device=positions.device)

    @property
    def seq_len(self) -> Any:
        # the past is the mask's width less the new positions: in the decode graph the past tensors are
        # the whole slot buffer, written in place
        return self.slots - self.positions.shape[1]

    def attend(self, layer: int, qkv: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from ._fused import _group_query_attention

        y, key, value = _group_query_attention(qkv, self.past[2 * layer], self.past[2 * layer + 1], self.seqlens,
                                               self.total, self.cos, self.sin, self.positions, mask, self.heads,
                                               self.kv_heads)
        self.presents += [key, value]
        return y


class StepGraph(nn.Module):
    """``(input_ids, positions, attention_mask, *extra, *past) -> (logits, *present)``: one graph for prefill
    and decode.

    For a continuous pipeline (head ``vocab_size`` 0) the first input is real
    vectors and the first output the head's ``params(hidden)``. ``extra`` are the
    backbone's declared extra inputs (``extra`` names them, in order), passed to it
    by keyword. With Medusa heads the second output is ``medusa_tokens``
    ``[B, T, num_heads]``: each head's top-1 guess at every position, so drafting
    needs no hidden states outside the graph. With ``fused`` a backbone that
    knows the cache's ``attend`` (the built-in transformer) runs its attention as
    onnxruntime's GroupQueryAttention: the single-position decode graph.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, medusa: nn.Module | None = None,
                 extra: Sequence[str] = (), fused: bool = False) -> None:
        super().__init__()
        self.backbone, self.head, self.medusa = backbone, head, medusa
        self.continuous = head.vocab_size == 0
        self.extra, self.fused = tuple(extra), fused

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, attention_mask: torch.Tensor,
                *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = len(self.extra)
        past = rest[n:]
        cache = (_FusedCache(past, self.backbone, positions, attention_mask.shape[-1]) if self.fused
                 else _TensorCache(past))
        hidden = self.backbone(input_ids, positions=positions, cache=cache, attention_mask=attention_mask,
                               **dict(zip(self.extra, rest[:n])))
        out = self.head.params(hidden) if self.continuous else self.head(hidden)
        if self.medusa is None:
            return (out, *cache.presents)
        return (out, self.medusa(hidden).argmax(-1), *cache.presents)
