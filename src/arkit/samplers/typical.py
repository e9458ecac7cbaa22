"""Locally typical sampling (Meister et al.). Registered as ``core/typical``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import MultinomialSelect

__all__ = ["Typical"]


class Typical(MultinomialSelect):
    """Keep the ids whose surprisal is closest to the entropy until they hold ``mass`` in ``(0, 1]``."""

    def __init__(self, *, mass: float = 0.9) -> None:
        if not isinstance(mass, (int, float)) or not 0.0 < mass <= 1.0:
            raise ConfigError(f"typical mass must lie in (0, 1], got {mass!r}")
        self.mass = float(mass)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"mass": self.mass}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return F.typical(logits, self.mass)
