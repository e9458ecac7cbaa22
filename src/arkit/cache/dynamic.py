"""A growing key/value cache: each update concatenates. Registered as ``core/dynamic``.

Simple and allocation-heavy: every step allocates new tensors. It is the
reference the other caches are tested against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import InputError
from ..types import CacheSpec

__all__ = ["DynamicCache"]


class DynamicCache:
    """Per-layer K/V tensors ``[B, H, S, Dh]`` that grow by concatenation."""

    def __init__(self) -> None:
        self.keys: list[torch.Tensor | None] = []
        self.values: list[torch.Tensor | None] = []
        self.max_len: int | None = None

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    @property
    def seq_len(self) -> int:
        return 0 if not self.keys or self.keys[0] is None else self.keys[0].shape[2]

    def allocate(
        self, spec: CacheSpec, *, batch_size: int, max_len: int, dtype: torch.dtype, device: torch.device | str
    ) -> None:
        self.keys = [None] * spec.num_layers
        self.values = [None] * spec.num_layers
        self.max_len = max_len

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= layer < len(self.keys):
            raise InputError(f"cache has {len(self.keys)} layers (allocate it first), got layer {layer}")
        old_k, old_v = self.keys[layer], self.values[layer]
        k = key if old_k is None else torch.cat((old_k, key), dim=2)
        v = value if old_v is None else torch.cat((old_v, value), dim=2)
        self.keys[layer], self.values[layer] = k, v
        return k, v

    def crop(self, n: int) -> None:
        if not 0 <= n <= self.seq_len:
            raise InputError(f"cannot crop a cache of {self.seq_len} positions to {n}")
        self.keys = [None if k is None else k[:, :, :n] for k in self.keys]
        self.values = [None if v is None else v[:, :, :n] for v in self.values]

    def reorder(self, indices: torch.Tensor) -> None:
        self.keys = [None if k is None else k.index_select(0, indices.to(k.device)) for k in self.keys]
        self.values = [None if v is None else v.index_select(0, indices.to(v.device)) for v in self.values]

    def memory_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values) if t is not None)
