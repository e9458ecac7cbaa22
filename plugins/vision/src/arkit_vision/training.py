"""Training helpers: label dropout for classifier-free guidance, early stopping on held-out NLL, and a warm
start for VQ tokenizers on colour images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import tempfile
from typing import Any

import attrs
import numpy as np
import safetensors.torch
import torch
import torch.nn.functional as F

import arkit

from .image import Image

__all__ = ["EarlyStopped", "fit_early_stopping", "fit_tokenizer", "scale_items", "with_label_dropout"]


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


def fit_tokenizer(tokenizer: Any, images: Sequence[Any], *, warmup_steps: int = 800, steps: int = 400,
                  batch_size: int = 32, warmup_lr: float = 1e-2, lr: float = 2e-3, colour_weight: float = 5.0,
                  seed: int = 0, progress: bool = False) -> Any:
    """Fit a ``vision/vq`` or ``vision/msvq`` tokenizer in two stages; returns its :class:`~arkit_vision.FitReport`.

    1. ``warmup_steps`` of its encoder and decoder as a plain autoencoder (no quantisation), so
       that the latents carry colour before any codebook entry is drawn from them. The loss is
       the pixel MSE plus ``colour_weight`` times the MSE of each pixel's deviation from its
       grey (channel mean). Trained with quantisation and plain MSE from the start, the small
       autoencoder on 32 x 32 RGB shapes learns brightness and outline first and still decodes
       every shape grey after a few hundred steps: colour is a small share of the squared error.
    2. ``tokenizer.fit(images, steps=steps, lr=lr)``: the codebook starts from the warmed
       encoder's outputs, then encoder, decoder and codebook learn together (EMA, dead-code
       restarts), at a lower learning rate than the warm-up so that the colours it learned survive.
    """
    from tqdm.auto import tqdm

    if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
        raise arkit.ConfigError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}")
    if not images:
        raise arkit.InputError("fit_tokenizer needs images, got none")
    x_all = tokenizer._tensor(images)  # checked pixels, scaled to [-1, 1] as the tokenizer's own fit does
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam([*tokenizer.encoder.parameters(), *tokenizer.decoder.parameters()], lr=warmup_lr)
    tokenizer.train()
    for _ in tqdm(range(warmup_steps), desc="warming up the autoencoder", disable=not progress):
        x = x_all[torch.randint(0, len(x_all), (batch_size,), generator=generator)]
        y = tokenizer.decoder(tokenizer.encoder(x))
        loss = F.mse_loss(y, x)
        if colour_weight and x.shape[1] > 1:
            loss = loss + colour_weight * F.mse_loss(y - y.mean(1, keepdim=True), x - x.mean(1, keepdim=True))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    tokenizer.eval()
    return tokenizer.fit(list(images), steps=steps, batch_size=batch_size, lr=lr, progress=progress)
