"""Per-token additive bias. Registered as ``core/logit-bias``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError, InputError
from ._base import MultinomialSelect

__all__ = ["LogitBias"]


class LogitBias(MultinomialSelect):
    """Add ``bias[id]`` to the logit of each listed id (``float("-inf")`` is not allowed: use core/bad-tokens)."""

    def __init__(self, *, bias: Mapping[int | str, float] | None = None) -> None:
        try:
            self.bias = {int(k): float(v) for k, v in (bias or {}).items()}
        except (TypeError, ValueError):
            raise ConfigError(f"logit bias must map token ids to numbers, got {bias!r}") from None
        if any(k < 0 for k in self.bias) or any(v != v or abs(v) == float("inf") for v in self.bias.values()):
            raise ConfigError("logit bias ids must be >= 0 and biases finite numbers")
        self._ids = torch.tensor(sorted(self.bias), dtype=torch.long)
        self._values = torch.tensor([self.bias[i] for i in sorted(self.bias)])

    @property
    def config(self) -> Mapping[str, Any]:
        return {"bias": {str(k): v for k, v in sorted(self.bias.items())}}  # JSON keys are strings

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        if not self.bias:
            return logits
        if int(self._ids[-1]) >= logits.shape[-1]:
            raise InputError(f"logit bias names token {int(self._ids[-1])}, beyond the vocabulary of {logits.shape[-1]}")
        bias = torch.zeros(logits.shape[-1], dtype=logits.dtype, device=logits.device)
        bias[self._ids.to(logits.device)] = self._values.to(logits.device, logits.dtype)
        return logits + bias
