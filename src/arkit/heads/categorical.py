"""A categorical head: one linear map from hidden states to vocabulary logits.

Registered as ``core/categorical``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from .._layout import column_major_linears
from ..errors import ConfigError, InputError

__all__ = ["CategoricalHead"]


class CategoricalHead(nn.Module):
    """Logits over ``vocab_size`` tokens from ``d_model``-wide hidden states."""

    def __init__(self, *, d_model: int = 256, vocab_size: int = 512, bias: bool = False, init_std: float = 0.02) -> None:
        super().__init__()
        for key, value in (("d_model", d_model), ("vocab_size", vocab_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"categorical head {key} must be a positive integer, got {value!r}")
        self.d_model, self.vocab_size = d_model, vocab_size
        self._config = dict(d_model=d_model, vocab_size=vocab_size, bias=bool(bias), init_std=float(init_std))
        self.proj = nn.Linear(d_model, vocab_size, bias=bias)
        nn.init.normal_(self.proj.weight, std=init_std)
        if bias:
            nn.init.zeros_(self.proj.bias)
        column_major_linears(self)

    @property
    def config(self) -> Mapping[str, Any]:
        return dict(self._config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.shape[-1] != self.d_model:
            raise InputError(f"hidden states must end in d_model={self.d_model}, got shape {tuple(hidden.shape)}")
        return F.linear(hidden, self.proj.weight, self.proj.bias)  # no module call: it runs once per decode step
