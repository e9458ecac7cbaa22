"""Training an EAGLE drafter on a frozen target (EAGLE-1, Li et al. 2024).

:func:`train_eagle`, one step:

1. take ``batch_size`` packed rows of the data (``data.py``: seeded shuffling,
   document boundaries);
2. run the frozen backbone and head once, without gradients: features ``f_t`` (the
   final hidden states) and the target's logits at every position;
3. the drafter reads the pairs ``(f_t + noise, x_t, x_{t+1})`` (uniform noise of width
   ``noise``, as the paper adds, so that drafting from its own slightly wrong
   features does not throw it) under the rows' document mask, and predicts ``g_t``;
4. the loss is the paper's: ``smooth_l1(g_t, f_{t+1}) + cls_weight * CE(head(g_t))``
   where the cross-entropy is against the target's own distribution at ``t + 1``
   (self-distillation: it learns what the target will say); pairs whose next
   feature lies in another document are skipped. AdamW, cosine learning rate.

Only the drafter changes; the target's head is used as it is, frozen.
"""

from __future__ import annotations

from collections.abc import Iterable
import math
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError
from ._drafter_steps import drafter_steps
from .data import IGNORE, Batch, attention_mask

if TYPE_CHECKING:
    from ..drafters.eagle import EagleDrafter
    from ..pipeline import Pipeline

__all__ = ["train_eagle"]


def train_eagle(
    pipe: Pipeline, drafter: EagleDrafter, data: Iterable[Any], *, steps: int = 200, batch_size: int = 8,
    seq_len: int = 128, lr: float = 3e-3, cls_weight: float = 0.1, noise: float = 0.1, seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``drafter`` on ``data`` (items ``pipe`` encodes) for ``steps`` steps; return each step's loss.

    The pipeline's backbone and head are left untouched. Same seed, same data, same drafter.
    """
    for key, value in (("steps", steps), ("batch_size", batch_size), ("seq_len", seq_len)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"train_eagle {key} must be an integer >= 1, got {value!r}")
    for key, value, low in (("lr", lr, 0.0), ("cls_weight", cls_weight, 0.0), ("noise", noise, 0.0)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < low \
                or (key == "lr" and value == 0):
            raise ConfigError(f"train_eagle {key} must be a finite number {'> 0' if key == 'lr' else '>= 0'}, "
                              f"got {value!r}")
    vocab = getattr(pipe.head, "vocab_size", None)
    if drafter.d_model != pipe.backbone.d_model or drafter.vocab_size != vocab:
        raise ConfigError(f"the eagle drafter (d_model {drafter.d_model}, vocab {drafter.vocab_size}) does not fit the "
                          f"pipeline (d_model {pipe.backbone.d_model}, vocab {vocab}): build it with "
                          f"EagleDrafter.for_pipeline(pipe)")
    device = next(pipe.backbone.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)

    def loss(batch: Batch) -> torch.Tensor | None:
        inputs, targets, positions, segments, _, extras = batch
        mask = attention_mask(segments)
        with torch.no_grad():
            features = pipe.backbone(inputs, positions=positions, attention_mask=mask, **(extras or {}))
            teacher = pipe.head(features).float()
        shaken = features + noise * (2 * torch.rand(features.shape, generator=generator, device=device) - 1)
        predicted = drafter(shaken, inputs, targets.clamp(min=0), positions=positions, attention_mask=mask)
        # pair t predicts the feature at t + 1: both in one document, and x_{t+1} a real token
        valid = (targets[:, :-1] != IGNORE) & (segments[:, 1:] == segments[:, :-1]) & (segments[:, 1:] > 0)
        if not bool(valid.any()):
            return None
        guess = predicted[:, :-1][valid]
        regression = F.smooth_l1_loss(guess, features[:, 1:][valid])
        logp = pipe.head(guess).float().log_softmax(-1)
        classification = -(teacher[:, 1:][valid].softmax(-1) * logp).sum(-1).mean()
        return regression + cls_weight * classification

    frozen = [p for p in pipe.head.parameters() if p.requires_grad]  # the target's head: used, never trained
    for p in frozen:
        p.requires_grad_(False)
    try:
        return drafter_steps(pipe, drafter, data, loss, steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr,
                             seed=seed, progress=progress, desc="eagle drafter")
    finally:
        for p in frozen:
            p.requires_grad_(True)
