"""The training loop that Medusa heads and an EAGLE layer share: a drafter trained on a frozen target.

:func:`drafter_steps` packs the data into rows (seeded shuffling, document boundaries), and
per step sets a cosine learning rate, takes one batch, asks ``loss`` for the step's loss and
takes an AdamW step on the drafter alone (gradients clipped to 1). What the target computes
and what the drafter learns from it is the caller's ``loss``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
import math
from typing import TYPE_CHECKING, Any

import torch

from .data import Batch, RowStream, Source, collate

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["drafter_steps"]


def drafter_steps(
    pipe: Pipeline, drafter: torch.nn.Module, data: Iterable[Any], loss: Callable[[Batch], torch.Tensor | None], *,
    steps: int, batch_size: int, seq_len: int, lr: float, seed: int, progress: bool, desc: str,
) -> list[float]:
    """Train ``drafter`` for ``steps`` steps on ``data`` (items ``pipe`` encodes); each step's loss is
    ``loss(batch)`` on a batch already on the target's device (``None``: nothing to learn from in that batch,
    the step is skipped). Returns each step's loss; the drafter is left in eval mode."""
    special = pipe.tokenizer.special_tokens
    source = Source(data, seed=seed, shuffle=True, shuffle_buffer=1000)
    stream = RowStream(source, pipe.encode, special.get("eos"), seq_len=seq_len, overflow="split",
                       pad_id=int(special.get("pad", 0)))
    device = next(pipe.backbone.parameters()).device
    drafter.to(device).train()
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(drafter.parameters(), lr=lr, weight_decay=0.0)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=desc, unit="step", dynamic_ncols=True)
    losses = []
    try:
        for step in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            value = loss(collate(stream.take(batch_size)).to(device))
            if value is None:
                continue
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            torch.nn.utils.clip_grad_norm_(drafter.parameters(), 1.0)
            optimizer.step()
            losses.append(float(value.detach()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses[-1]:.3f}")
    finally:
        if bar is not None:
            bar.close()
        drafter.eval()
    return losses
