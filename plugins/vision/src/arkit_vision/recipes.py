"""Small class-conditional image models, trained in minutes on one CPU thread.

Digits (8 x 8, :func:`~arkit_vision.load_digits`):

- :func:`train_raster`: pixel tokens (``vision/pixels``), one token per model call.
- :func:`train_next_scale`: a ``vision/msvq`` tokenizer fitted on the digits (or any fitted
  msvq tokenizer), then next-scale prediction (VAR) over its scales, one token map per call.
- :func:`train_draft`: a 1-layer model over the same pixel tokens, the draft model of
  speculative decoding.

Coloured shapes (32 x 32 RGB, :func:`~arkit_vision.load_shapes`):

- :func:`shapes_tokenizer`: a ``vision/vq`` (8 x 8 token map) or ``vision/msvq`` (scales
  1, 2, 4, 8) tokenizer fitted on the training shapes;
- :func:`train_vq_raster`: raster next-token prediction over the 64 codes of a fitted
  ``vision/vq`` tokenizer (a smaller :class:`ModelSize` with the same tokenizer gives its draft model);
- :func:`train_next_scale` with a fitted shapes ``vision/msvq`` tokenizer.

All of them use label dropout (the null class, for classifier-free guidance) and keep the
weights of the lowest held-out loss (early stopping on the validation images).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch

import arkit

from .datasets import SHAPES, ImageSplit
from .msvq import MultiScaleVQTokenizer
from .pixels import PixelTokenizer
from .training import EarlyStopped, fit_early_stopping, fit_tokenizer, scale_items, with_label_dropout
from .vq import VQTokenizer

__all__ = ["ModelSize", "SHAPES_MODEL", "SHIPPED_SIZES", "model_pipeline", "shapes_tokenizer", "train_draft",
           "train_next_scale", "train_raster", "train_shipped", "train_vq_raster"]


@attrs.frozen(kw_only=True)
class ModelSize:
    """Backbone size and training budget."""

    d_model: int = 96
    n_layers: int = 3
    n_heads: int = 4
    steps: int = 1200
    batch_size: int = 32
    lr: float = 3e-3
    label_dropout: float = 0.1
    seed: int = 0
    dropout: float = 0.0
    """The backbone's residual dropout (``core/transformer``'s ``dropout``), in training only."""


SHAPES_MODEL = ModelSize(d_model=64, n_layers=2, n_heads=4, steps=1000, batch_size=32, lr=3e-3)
"""The default size and budget of the shapes models (:func:`train_vq_raster`, next-scale on shapes)."""


SHIPPED_SIZES: dict[str, ModelSize] = {
    "digits-raster": ModelSize(d_model=96, n_layers=3, n_heads=4, steps=1200, lr=3e-3),
    "shapes-raster": ModelSize(d_model=96, n_layers=3, n_heads=4, steps=1000, lr=3e-3),
    "shapes-draft": ModelSize(d_model=32, n_layers=1, n_heads=2, steps=500, lr=3e-3),
    "digits-next-scale": ModelSize(d_model=96, n_layers=3, n_heads=4, steps=1200, lr=3e-3),
    "shapes-next-scale": ModelSize(d_model=96, n_layers=3, n_heads=4, steps=1000, lr=3e-3),
}
"""Size and budget of each shipped checkpoint (``plugins/vision/scripts/pretrain.py``, :func:`train_shipped`)."""


def model_pipeline(tokenizer: Any, size: ModelSize, max_seq_len: int) -> arkit.Pipeline:
    """An untrained ``core/transformer`` + ``core/categorical`` pipeline of ``size`` over ``tokenizer``'s tokens (seeded)."""
    torch.manual_seed(size.seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tokenizer.vocab_size, d_model=size.d_model,
                            n_layers=size.n_layers, n_heads=size.n_heads, max_seq_len=max_seq_len,
                            dropout=size.dropout)
    head = arkit.create("head", "core/categorical", vocab_size=tokenizer.vocab_size, d_model=size.d_model)
    return arkit.Pipeline(tokenizer=tokenizer, backbone=backbone, head=head)


def _config(size: ModelSize, seq_len: int, progress: bool) -> arkit.TrainConfig:
    return arkit.TrainConfig(steps=size.steps, batch_size=size.batch_size, seq_len=seq_len, lr=size.lr,
                             overflow="truncate", threads=1, progress=progress, seed=size.seed,
                             eval_every=max(1, size.steps // 12))


def train_raster(data: ImageSplit, size: ModelSize = ModelSize(), *, progress: bool = False
                 ) -> tuple[arkit.Pipeline, EarlyStopped]:
    """A raster-order model over 17-level pixel tokens: documents ``[bos, class, 64 pixels, eos]``."""
    tokenizer = PixelTokenizer()
    seq_len = tokenizer.num_content_tokens + 2  # bos class pixels eos -> 66 (input, target) pairs
    pipe = model_pipeline(tokenizer, size, seq_len + 8)
    train = with_label_dropout(data.train, size.label_dropout, seed=size.seed)
    return pipe, fit_early_stopping(pipe, train, data.valid, _config(size, seq_len, progress))


def train_draft(data: ImageSplit, *, steps: int = 600, progress: bool = False) -> arkit.Pipeline:
    """A 1-layer, d_model 32 raster model over the same pixel tokens (a cheap draft model)."""
    pipe, _ = train_raster(data, ModelSize(d_model=32, n_layers=1, n_heads=2, steps=steps), progress=progress)
    return pipe


def _labels_fit(tokenizer: Any, data: ImageSplit) -> None:
    """Every labelled image of ``data`` has a class the tokenizer knows (else a ConfigError before training)."""
    classes = {im.label for part in (data.train, data.valid) for im in part if im.label is not None}
    if not classes:
        raise arkit.InputError("class-conditional training needs labelled images; the training data have no labels")
    if not getattr(tokenizer, "num_classes", 0) or max(classes) >= tokenizer.num_classes or min(classes) < 0:
        raise arkit.ConfigError(f"the data have class labels {min(classes)}..{max(classes)} but the tokenizer has "
                                f"num_classes={getattr(tokenizer, 'num_classes', 0)}: build it with num_classes="
                                f"{max(classes) + 1}")


def _fitted(tokenizer: Any, kind: type, name: str) -> None:
    if not isinstance(tokenizer, kind):
        raise arkit.ConfigError(f"{name} needs a {kind.__name__}, got {type(tokenizer).__name__}")
    if not tokenizer.fitted:
        raise arkit.ConfigError(f"{name} needs a fitted tokenizer: call tokenizer.fit(data.train) or "
                                "arkit_vision.recipes.shapes_tokenizer(data) first")


def shapes_tokenizer(data: ImageSplit, *, multi_scale: bool = False, codebook_size: int = 64, hidden: int = 16,
                     warmup_steps: int = 800, steps: int = 400, seed: int = 0,
                     progress: bool = False) -> VQTokenizer:
    """A ``vision/vq`` (``multi_scale=False``: one 8 x 8 map, 64 codes) or ``vision/msvq`` (scales 1, 2, 4, 8:
    85 codes) tokenizer for 32 x 32 RGB shapes (``downsample=2``, 4 classes), fitted on ``data.train`` with
    :func:`~arkit_vision.training.fit_tokenizer` (an autoencoder warm-up, then the VQ fit)."""
    config: dict[str, Any] = dict(image_size=32, channels=3, max_value=255, downsample=2, codebook_size=codebook_size,
                                  hidden=hidden, num_classes=len(SHAPES), seed=seed)
    tokenizer = MultiScaleVQTokenizer(scales=(1, 2, 4, 8), **config) if multi_scale else VQTokenizer(**config)
    fit_tokenizer(tokenizer, data.train, warmup_steps=warmup_steps, steps=steps, seed=seed, progress=progress)
    return tokenizer


def train_vq_raster(data: ImageSplit, tokenizer: VQTokenizer, size: ModelSize = SHAPES_MODEL, *,
                    progress: bool = False) -> tuple[arkit.Pipeline, EarlyStopped]:
    """A raster-order model over the codes of a fitted ``vision/vq`` tokenizer: documents ``[bos, class, codes, eos]``
    (64 codes for an 8 x 8 map), label dropout for guidance, early stopping on ``data.valid``."""
    _fitted(tokenizer, VQTokenizer, "train_vq_raster")
    if len(tokenizer.scales) != 1:
        raise arkit.ConfigError("train_vq_raster needs a single-scale vision/vq tokenizer; for vision/msvq use "
                                "train_next_scale(data, size, tokenizer=...)")
    _labels_fit(tokenizer, data)
    seq_len = tokenizer.num_content_tokens + 2
    pipe = model_pipeline(tokenizer, size, seq_len + 8)
    train = with_label_dropout(data.train, size.label_dropout, seed=size.seed)
    return pipe, fit_early_stopping(pipe, train, data.valid, _config(size, seq_len, progress))


def train_next_scale(data: ImageSplit, size: ModelSize = ModelSize(), *,
                     tokenizer: MultiScaleVQTokenizer | Mapping[str, Any] | None = None, codebook_size: int = 32,
                     tokenizer_steps: int = 400, progress: bool = False) -> tuple[arkit.Pipeline, EarlyStopped]:
    """A next-scale (VAR) model over a ``vision/msvq`` tokenizer's token maps, one map per model call.

    ``tokenizer``: a fitted :class:`MultiScaleVQTokenizer` (used as is), a config mapping for one
    (fitted here on ``data.train`` for ``tokenizer_steps``), or None: the digits tokenizer
    ``MultiScaleVQTokenizer(codebook_size=codebook_size)`` (scales 1, 2, 4, 8), fitted here.
    """
    if tokenizer is None or isinstance(tokenizer, Mapping):
        config = dict(tokenizer) if tokenizer is not None else {"codebook_size": codebook_size}
        config.setdefault("seed", size.seed)
        tokenizer = MultiScaleVQTokenizer(**config)
        tokenizer.fit(data.train, steps=tokenizer_steps, progress=progress)
    _fitted(tokenizer, MultiScaleVQTokenizer, "train_next_scale")
    _labels_fit(tokenizer, data)
    schedule = tokenizer.schedule
    seq_len = 2 + schedule.input_length  # bos class, then every scale's inputs
    pipe = model_pipeline(tokenizer, size, seq_len + 8)
    train = scale_items(tokenizer, with_label_dropout(data.train, size.label_dropout, seed=size.seed))
    valid = scale_items(tokenizer, data.valid)
    return pipe, fit_early_stopping(pipe, train, valid, _config(size, seq_len, progress), schedule=schedule)


def train_shipped(name: str, data: ImageSplit, *, seed: int = 0, target: arkit.Pipeline | None = None,
                  progress: bool = False) -> arkit.Pipeline:
    """Train the model of the shipped checkpoint ``name`` (a key of :data:`SHIPPED_SIZES`) from scratch with
    ``seed``, tokenizer included: what ``arkit vision eval --from-scratch`` runs. ``shapes-draft`` uses the
    tokenizer of ``target`` (a shapes-raster pipeline)."""
    if name not in SHIPPED_SIZES:
        raise arkit.ConfigError(f"no shipped vision model named {name!r}; known: {', '.join(SHIPPED_SIZES)}")
    size = attrs.evolve(SHIPPED_SIZES[name], seed=seed)
    if name == "digits-raster":
        return train_raster(data, size, progress=progress)[0]
    if name == "digits-next-scale":
        return train_next_scale(data, size, codebook_size=32, tokenizer_steps=400, progress=progress)[0]
    if name == "shapes-draft":
        if target is None:
            raise arkit.ConfigError("train_shipped('shapes-draft') needs target=, the shapes-raster pipeline whose "
                                    "tokenizer the draft model shares")
        return train_vq_raster(data, target.tokenizer, size, progress=progress)[0]
    tokenizer = shapes_tokenizer(data, multi_scale=name == "shapes-next-scale", codebook_size=64, warmup_steps=800,
                                 steps=400, seed=seed, progress=progress)
    if name == "shapes-raster":
        return train_vq_raster(data, tokenizer, size, progress=progress)[0]
    return train_next_scale(data, size, tokenizer=tokenizer, progress=progress)[0]
