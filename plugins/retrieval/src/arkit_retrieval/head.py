"""``retrieval/id-head``: vocabulary logits, trained on the identifier part of each sequence.

A categorical head (one linear map to logits) whose training objective scores the
positions that predict ``sep``, an id token or ``eos`` (targets ``>= score_from``)
and weighs the text-predicting positions by ``text_weight``. DSI trains only the
text-to-id mapping; a small ``text_weight`` adds a language-model signal on the
text. Only the scored positions go through the projection, which keeps training
cheap when ids are short and texts long.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F

from arkit import ConfigError, InputError

__all__ = ["IdHead"]

_IGNORE = -100  # the trainer's target for positions that predict nothing (padding)


class IdHead(nn.Module):
    """Logits over ``vocab_size`` tokens; training loss on id positions (and ``text_weight`` x text positions)."""

    def __init__(self, *, d_model: int = 256, vocab_size: int = 512, score_from: int = 0, text_weight: float = 0.0,
                 init_std: float = 0.02) -> None:
        super().__init__()
        for key, value in (("d_model", d_model), ("vocab_size", vocab_size)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"id head {key} must be a positive integer, got {value!r}")
        if not 0 <= score_from < vocab_size:
            raise ConfigError(f"score_from must lie in [0, vocab_size={vocab_size}), got {score_from!r}")
        if not 0.0 <= float(text_weight) <= 1.0:
            raise ConfigError(f"text_weight must lie in [0, 1], got {text_weight!r}")
        self.d_model, self.vocab_size = d_model, vocab_size
        self.score_from, self.text_weight = int(score_from), float(text_weight)
        self._init_std = float(init_std)
        self.proj = nn.Linear(d_model, vocab_size, bias=False)
        nn.init.normal_(self.proj.weight, std=init_std)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"d_model": self.d_model, "vocab_size": self.vocab_size, "score_from": self.score_from,
                "text_weight": self.text_weight, "init_std": self._init_std}

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if hidden.shape[-1] != self.d_model:
            raise InputError(f"hidden states must end in d_model={self.d_model}, got shape {tuple(hidden.shape)}")
        return F.linear(hidden, self.proj.weight)

    def loss(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Per-position losses ``[B, T]``: cross-entropy, weighted 1 on id positions, ``text_weight`` on text."""
        is_id = targets >= self.score_from
        weight = torch.where(is_id, 1.0, self.text_weight) * (targets != _IGNORE)
        chosen = weight > 0
        losses = torch.zeros(targets.shape, dtype=torch.float32, device=hidden.device)
        if bool(chosen.any()):
            logits = self.forward(hidden[chosen]).float()
            ce = F.cross_entropy(logits, targets[chosen], reduction="none")
            losses[chosen] = ce * weight[chosen]
        return losses
