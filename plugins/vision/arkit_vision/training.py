"""Training helpers: label dropout for classifier-free guidance, early stopping on held-out NLL."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import tempfile
from typing import Any

import attrs
import numpy as np
import safetensors.torch

import arkit

from .image import Image

__all__ = ["EarlyStopped", "fit_early_stopping", "scale_items", "with_label_dropout"]


def with_label_dropout(images: Sequence[Image], p: float = 0.1, *, seed: int = 0) -> list[Image]:
    """The labelled images plus an unlabelled copy of a random ``p`` share of them (the unconditional rows
    classifier-free guidance needs: their prompt is the null class)."""
    if not 0.0 <= p < 1.0:
        raise arkit.ConfigError(f"label dropout p must be in [0, 1), got {p!r}")
    rng = np.random.default_rng(seed)
    extra = [Image(image.pixels, label=None) for image in images if rng.random() < p]
    return [*images, *extra]


@attrs.frozen(kw_only=True)
class EarlyStopped:
    """What :func:`fit_early_stopping` did: the step whose weights were kept, and every evaluation."""

    best_step: int
    best_eval_loss: float
    eval_losses: tuple[tuple[int, float], ...]
    result: arkit.TrainResult


def fit_early_stopping(pipe: arkit.Pipeline, data: Sequence[Any], valid: Sequence[Any], config: arkit.TrainConfig,
                       *, schedule: Any = None) -> EarlyStopped:
    """``pipe.fit`` with a checkpoint at every evaluation; the weights of the lowest held-out loss are kept.

    ``config.eval_every`` sets how often (default: every tenth of the steps). Checkpoints go to a
    temporary folder that is removed afterwards.
    """
    every = config.eval_every or max(1, config.steps // 10)
    with tempfile.TemporaryDirectory(prefix="arkit-vision-") as tmp:
        run = attrs.evolve(config, eval_every=every, checkpoint_every=every, out_dir=tmp,
                           keep_checkpoints=config.steps // every + 1, eval_fraction=0.0)
        result = pipe.fit(list(data), run, eval_data=list(valid), schedule=schedule)
        best_step, best = min(result.eval_losses, key=lambda sv: (sv[1], sv[0]))
        weights = safetensors.torch.load_file(str(Path(tmp) / "checkpoints" / f"checkpoint-{best_step:08d}" / "model.safetensors"))
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        prefix = name + "."
        module.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
    pipe.backbone.eval(), pipe.head.eval()
    return EarlyStopped(best_step=best_step, best_eval_loss=best, eval_losses=result.eval_losses, result=result)


def scale_items(tokenizer: Any, images: Sequence[Image]) -> list[tuple[int | None, list[Any]]]:
    """``(label, maps)`` pairs for next-scale training (``Pipeline.fit(..., schedule=tokenizer.schedule)``):
    the label is the prompt (``None``: the null class), ``maps`` the image's token map per scale."""
    codes = tokenizer.codes(list(images))
    items = []
    for image, row in zip(images, codes):
        maps, offset = [], 0
        for s in tokenizer.scales:
            maps.append(row[offset:offset + s * s].view(s, s))
            offset += s * s
        items.append((image.label, maps))
    return items
