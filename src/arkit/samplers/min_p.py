"""Min-p truncation. Registered as ``core/min-p``; samples multinomially."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import MultinomialSelect

__all__ = ["MinP"]


class MinP(MultinomialSelect):
    """Keep ids at least ``p`` times as likely as the most likely one; ``p`` in ``(0, 1]``."""

    def __init__(self, *, p: float = 0.05) -> None:
        if not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
            raise ConfigError(f"min-p p must lie in (0, 1], got {p!r}")
        self.p = float(p)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"p": self.p}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return F.min_p(logits, self.p)
