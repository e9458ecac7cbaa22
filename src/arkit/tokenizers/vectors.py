"""Real-valued vectors as tokens, for continuous models. Registered as ``core/vectors``.

A continuous pipeline (``core/transformer(input_dim=F)`` and a distribution head
such as ``core/gaussian-mixture(dim=F)``) reads each item as a sequence of
``F``-dimensional real vectors: a ``[T, F]`` array-like (a ``[T]`` sequence of
numbers when ``F`` is 1). ``vocab_size`` is 0: there are no ids.
``Pipeline.fit`` trains such a pipeline by negative log-likelihood of each next
vector; :func:`arkit.generate_continuous` samples from it. Domain tokenizers
(scaling, patching) produce these vectors from raw data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import ConfigError, InputError

__all__ = ["VectorTokenizer"]


class VectorTokenizer:
    """``[T, dim]`` real arrays in, lists of ``dim`` floats out; checked for shape and finiteness."""

    lossless = True
    vocab_size = 0
    special_tokens: Mapping[str, int] = {}

    def __init__(self, *, dim: int = 1) -> None:
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ConfigError(f"vector tokenizer dim must be a positive integer, got {dim!r}")
        self.dim = dim

    @property
    def config(self) -> Mapping[str, Any]:
        return {"dim": self.dim}

    def encode(self, item: Any) -> list[list[float]]:
        try:
            values = torch.as_tensor(item, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            raise InputError(f"expected a [time, {self.dim}] array of numbers, got {type(item).__name__}") from None
        if values.dim() == 1 and self.dim == 1:
            values = values[:, None]
        if values.dim() != 2 or values.shape[1] != self.dim:
            raise InputError(f"expected a [time, {self.dim}] array, got shape {list(values.shape)}")
        if not bool(torch.isfinite(values).all()):
            raise InputError("the vectors hold NaN or infinite values: fill or drop them first")
        return values.tolist()

    def decode(self, ids: Sequence[Any]) -> list[list[float]]:
        return torch.as_tensor(list(ids), dtype=torch.float32).reshape(-1, self.dim).tolist()
