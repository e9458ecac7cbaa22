"""The repetition penalty of CTRL (Keskar et al.). Registered as ``core/repetition-penalty``."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any

import torch

from ..errors import ConfigError
from . import _functional as F
from ._base import MultinomialSelect

__all__ = ["RepetitionPenalty"]


class RepetitionPenalty(MultinomialSelect):
    """Make ids already in the row's context less likely: ``penalty > 1`` penalises, ``< 1`` encourages."""

    def __init__(self, *, penalty: float = 1.2) -> None:
        if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not 0 < penalty < math.inf:
            raise ConfigError(f"repetition penalty must be a finite number > 0, got {penalty!r}")
        self.penalty = float(penalty)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"penalty": self.penalty}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return F.repetition_penalty(logits, tokens, self.penalty)
