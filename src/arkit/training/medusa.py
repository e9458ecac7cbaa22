"""Training Medusa heads on a frozen target (Medusa-1, Cai et al. 2024).

:func:`train_medusa`, one step:

1. take ``batch_size`` packed rows of the data (``data.py``: seeded shuffling,
   document boundaries);
2. run the frozen backbone and head once, without gradients: hidden states ``h``
   and the target's own logits at every position;
3. head ``i`` (1-based) at position ``t`` learns the token at ``t + i + 1``:
   with ``distill=True`` (self-distillation) the target's own distribution at
   ``t + i`` (cross-entropy against its softmax), else the data token there;
   positions whose target lies past the row's document are skipped;
4. the loss is ``sum_i 0.8^(i-1) * loss_i`` (later heads matter less, as in the
   paper); AdamW step, cosine learning rate.

Only the heads change. Self-distillation trains the heads to guess what the
target will say, which is what speculative decoding rewards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import ConfigError, InputError
from ._drafter_steps import drafter_steps
from .data import IGNORE, Batch, attention_mask
from .distill import _as_token_ids, _continuations

if TYPE_CHECKING:
    from ..drafters.medusa import MedusaHeads
    from ..pipeline import Pipeline

__all__ = ["train_medusa"]


def train_medusa(
    pipe: Pipeline, drafter: MedusaHeads, data: Iterable[Any], *, steps: int = 200, batch_size: int = 8,
    seq_len: int = 128, lr: float = 3e-3, distill: bool = True, generate_tokens: int = 0, seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Train ``drafter``'s heads on ``data`` (items ``pipe`` encodes) for ``steps`` steps; return each step's loss.

    With ``generate_tokens > 0``, ``data`` is a list of prompts: ``pipe`` first continues
    each one by that many tokens with its own sampler (seeded by ``seed``), and the
    heads train on prompt + continuation. This is the Medusa paper's self-distillation
    data: heads learn what the model writes, not what the corpus says. Use it when the
    two differ (a fine-tuned model whose training set is unavailable, or a model that
    falls into loops under greedy decoding). The pipeline's backbone and head are left
    untouched. Same seed, same data, same heads.
    """
    for key, value in (("steps", steps), ("batch_size", batch_size), ("seq_len", seq_len)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"train_medusa {key} must be an integer >= 1, got {value!r}")
    if not isinstance(generate_tokens, int) or isinstance(generate_tokens, bool) or generate_tokens < 0:
        raise ConfigError(f"train_medusa generate_tokens must be an integer >= 0, got {generate_tokens!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr > 0:
        raise ConfigError(f"train_medusa lr must be a positive number, got {lr!r}")
    if drafter.d_model != pipe.backbone.d_model or drafter.vocab_size != pipe.tokenizer.vocab_size:
        raise ConfigError(f"the medusa heads (d_model {drafter.d_model}, vocab {drafter.vocab_size}) do not fit the "
                          f"pipeline (d_model {pipe.backbone.d_model}, vocab {pipe.tokenizer.vocab_size})")
    if generate_tokens:
        if not isinstance(data, Sequence) or isinstance(data, (str, bytes)) or not data:
            raise InputError("with generate_tokens, train_medusa's data must be a non-empty list of prompts")
        data = _continuations(pipe, data, max_new_tokens=generate_tokens, batch_size=16, seed=seed)
        pipe = _as_token_ids(pipe)  # the rows are token ids already

    def loss(batch: Batch) -> torch.Tensor:
        inputs, targets, positions, segments, _, extras = batch
        with torch.no_grad():
            hidden = pipe.backbone(inputs, positions=positions, attention_mask=attention_mask(segments),
                                   **(extras or {}))
            teacher = pipe.head(hidden).float()
        logits = drafter(hidden)  # [B, T, num_heads, V]
        total = logits.new_zeros(())
        for i in range(1, drafter.num_heads + 1):
            # head i at t predicts the token at t + i + 1: targets[t + i], the teacher's prediction at t + i
            valid = (targets[:, i:] != IGNORE) & (segments[:, i:] == segments[:, :-i])
            if not bool(valid.any()):
                continue
            guess = logits[:, :-i, i - 1][valid].float()
            if distill:
                head_loss = -(teacher[:, i:][valid].softmax(-1) * guess.log_softmax(-1)).sum(-1).mean()
            else:
                head_loss = F.cross_entropy(guess, targets[:, i:][valid])
            total = total + 0.8 ** (i - 1) * head_loss
        return total

    return drafter_steps(pipe, drafter, data, loss, steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr,
                         seed=seed, progress=progress, desc="medusa heads")
