"""A sliding-window key/value cache: keeps only the most recent ``window`` positions.

Registered as ``core/sliding``. Memory stays bounded however long generation
runs. It is exact for backbones whose attention is windowed to the same size
(``core/transformer`` with ``sliding_window=window``): such a model never looks
further back, so dropping older keys changes nothing. With an unwindowed model it
is an approximation (attention to a recent window), like StreamingLLM without sinks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError, InputError
from ..types import CacheSpec

__all__ = ["SlidingWindowCache"]


class SlidingWindowCache:
    """Per-layer K/V of at most ``window`` positions; ``offset`` counts positions dropped from the front."""

    def __init__(self, *, window: int = 256) -> None:
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ConfigError(f"sliding window must be an integer >= 1, got {window!r}")
        self.window = window
        self.keys: list[torch.Tensor | None] = []
        self.values: list[torch.Tensor | None] = []
        self.seen: list[int] = []  # positions ever written per layer

    @property
    def config(self) -> Mapping[str, Any]:
        return {"window": self.window}

    @property
    def seq_len(self) -> int:
        return 0 if not self.keys or self.keys[0] is None else self.keys[0].shape[2]

    @property
    def offset(self) -> int:
        """Storage slot 0 holds the position written ``offset``-th (0 until the window fills)."""
        return self.seen[0] - self.seq_len if self.seen else 0

    def allocate(
        self, spec: CacheSpec, *, batch_size: int, max_len: int, dtype: torch.dtype, device: torch.device | str
    ) -> None:
        self.keys = [None] * spec.num_layers
        self.values = [None] * spec.num_layers
        self.seen = [0] * spec.num_layers

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= layer < len(self.keys):
            raise InputError(f"cache has {len(self.keys)} layers (allocate it first), got layer {layer}")
        old_k, old_v = self.keys[layer], self.values[layer]
        k = key if old_k is None else torch.cat((old_k, key), dim=2)
        v = value if old_v is None else torch.cat((old_v, value), dim=2)
        self.keys[layer], self.values[layer] = k[:, :, -self.window :], v[:, :, -self.window :]
        self.seen[layer] += key.shape[2]
        return k, v  # this call still attends over everything it was given

    def crop(self, n: int) -> None:
        """Keep the first ``n`` stored positions; positions already dropped cannot come back."""
        if not 0 <= n <= self.seq_len:
            raise InputError(f"cannot crop a sliding cache of {self.seq_len} stored positions to {n}")
        drop = self.seq_len - n
        self.keys = [None if k is None else k[:, :, :n] for k in self.keys]
        self.values = [None if v is None else v[:, :, :n] for v in self.values]
        self.seen = [s - drop for s in self.seen]

    def reorder(self, indices: torch.Tensor) -> None:
        self.keys = [None if k is None else k.index_select(0, indices.to(k.device)) for k in self.keys]
        self.values = [None if v is None else v.index_select(0, indices.to(v.device)) for v in self.values]

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values) if t is not None)
