"""Temperature scaling: ``logits / t``. Registered as ``core/temperature``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import MultinomialSelect

__all__ = ["Temperature"]


class Temperature(MultinomialSelect):
    """Sharpen (``t < 1``) or flatten (``t > 1``) the distribution. ``t`` must be > 0; use greedy for 0."""

    def __init__(self, *, temperature: float = 1.0) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 < temperature < math.inf:
            raise ConfigError(f"temperature must be a finite number > 0 (use core/greedy for 0), got {temperature!r}")
        self.temperature = float(temperature)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"temperature": self.temperature}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return F.temperature(logits, self.temperature)
