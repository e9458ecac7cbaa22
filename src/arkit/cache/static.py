"""A preallocated key/value cache: fixed shapes, written in place. Registered as ``core/static``.

``allocate`` reserves ``[B, H, max_len, Dh]`` per layer once; ``update`` copies the
new positions into the buffer and returns views of the filled part, so a decode
step allocates no cache memory. This is the form ``torch.compile`` and ONNX want,
and the fastest on CPU at batch > 1, where concatenating a growing cache costs a
third of the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import InputError
from ..types import CacheSpec

__all__ = ["StaticCache"]


class StaticCache:
    """Per-layer K/V buffers of ``max_len`` positions, filled left to right.

    ``allocate`` keeps the buffers it has when they fit: ``max_len`` is then at least the
    length asked for.
    """

    def __init__(self) -> None:
        self.keys = torch.empty(0)
        self.values = torch.empty(0)
        self.lengths: list[int] = []  # filled positions per layer
        self._layers: list[tuple[torch.Tensor, torch.Tensor]] = []  # per-layer views of the buffers

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    @property
    def seq_len(self) -> int:
        return self.lengths[0] if self.lengths else 0

    @property
    def max_len(self) -> int:
        return self.keys.shape[3] if self.keys.dim() == 5 else 0

    def allocate(
        self, spec: CacheSpec, *, batch_size: int, max_len: int, dtype: torch.dtype, device: torch.device | str
    ) -> None:
        shape = (spec.num_layers, batch_size, spec.num_kv_heads, max_len, spec.head_dim)
        have = tuple(self.keys.shape) if self.keys.dim() == 5 else (0,) * 5
        if (have[:3] != shape[:3] or have[4] != shape[4] or have[3] < max_len or self.keys.dtype != dtype
                or self.keys.device != torch.device(device)):
            # Reuse the previous generation's buffers when they fit (same geometry, at least as long):
            # speculative decoding asks for more room than plain decoding, and alternating the two
            # would otherwise reallocate every time. New buffers are zeros: slots a mask hides are
            # still multiplied, and must hold finite values.
            self.keys = torch.zeros(shape, dtype=dtype, device=device)
            self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.lengths = [0] * spec.num_layers
        self._split()

    def _split(self) -> None:
        # one view per layer, made once: a decode step then costs two narrows and a copy per layer
        self._layers = [(self.keys[i], self.values[i]) for i in range(self.keys.shape[0])]

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= layer < len(self.lengths):
            raise InputError(f"cache has {len(self.lengths)} layers (allocate it first), got layer {layer}")
        start, new = self.lengths[layer], key.shape[2]
        keys, values = self._layers[layer]
        if start + new > keys.shape[2]:  # the layer's buffer holds max_len positions (no property call per step)
            raise InputError(
                f"the static cache holds {self.max_len} positions and {start} are used: cannot add {new}. "
                f"Allocate it with a larger max_len (prompt length + max_new_tokens)"
            )
        end = start + new
        keys.narrow(2, start, new).copy_(key)
        values.narrow(2, start, new).copy_(value)
        self.lengths[layer] = end
        return keys.narrow(2, 0, end), values.narrow(2, 0, end)

    def crop(self, n: int) -> None:
        if not 0 <= n <= self.seq_len:
            raise InputError(f"cannot crop a cache of {self.seq_len} positions to {n}")
        self.lengths = [min(length, n) for length in self.lengths]

    def reorder(self, indices: torch.Tensor) -> None:
        indices = indices.to(self.keys.device)
        if indices.numel() == self.keys.shape[1]:
            # same batch size: gather in place through a temporary, keeping the buffers
            self.keys.copy_(self.keys.index_select(1, indices))
            self.values.copy_(self.values.index_select(1, indices))
        else:  # rows dropped or duplicated: new buffers, copying only the positions in use
            used = max(self.lengths, default=0)
            shape = (self.keys.shape[0], indices.numel(), *self.keys.shape[2:])
            keys, values = self.keys.new_empty(shape), self.values.new_empty(shape)
            keys.narrow(3, 0, used).copy_(self.keys.narrow(3, 0, used).index_select(1, indices))
            values.narrow(3, 0, used).copy_(self.values.narrow(3, 0, used).index_select(1, indices))
            self.keys, self.values = keys, values
            self._split()

    def memory_bytes(self) -> int:
        return (self.keys.numel() + self.values.numel()) * self.keys.element_size()
