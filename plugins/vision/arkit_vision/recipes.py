"""Small class-conditional digit models, trained in minutes on one CPU thread.

- :func:`train_raster`: pixel tokens (``vision/pixels``), one token per model call.
- :func:`train_next_scale`: a ``vision/msvq`` tokenizer fitted on the digits, then next-scale
  prediction (VAR) over its scales, one token map per model call.
- :func:`train_draft`: a 1-layer model over the same pixel tokens, the draft model of
  speculative decoding.

All of them use label dropout (the null class, for classifier-free guidance) and keep the
weights of the lowest held-out loss (early stopping on the validation digits).
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

import arkit

from .datasets import DigitsSplit
from .msvq import MultiScaleVQTokenizer
from .pixels import PixelTokenizer
from .training import EarlyStopped, fit_early_stopping, scale_items, with_label_dropout

__all__ = ["ModelSize", "train_draft", "train_next_scale", "train_raster"]


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


def _pipeline(tokenizer: Any, size: ModelSize, max_seq_len: int) -> arkit.Pipeline:
    torch.manual_seed(size.seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tokenizer.vocab_size, d_model=size.d_model,
                            n_layers=size.n_layers, n_heads=size.n_heads, max_seq_len=max_seq_len)
    head = arkit.create("head", "core/categorical", vocab_size=tokenizer.vocab_size, d_model=size.d_model)
    return arkit.Pipeline(tokenizer=tokenizer, backbone=backbone, head=head)


def _config(size: ModelSize, seq_len: int, progress: bool) -> arkit.TrainConfig:
    return arkit.TrainConfig(steps=size.steps, batch_size=size.batch_size, seq_len=seq_len, lr=size.lr,
                             overflow="truncate", threads=1, progress=progress, seed=size.seed,
                             eval_every=max(1, size.steps // 12))


def train_raster(data: DigitsSplit, size: ModelSize = ModelSize(), *, progress: bool = False
                 ) -> tuple[arkit.Pipeline, EarlyStopped]:
    """A raster-order model over 17-level pixel tokens: documents ``[bos, class, 64 pixels, eos]``."""
    tokenizer = PixelTokenizer()
    seq_len = tokenizer.num_content_tokens + 2  # bos class pixels eos -> 66 (input, target) pairs
    pipe = _pipeline(tokenizer, size, seq_len + 8)
    train = with_label_dropout(data.train, size.label_dropout, seed=size.seed)
    return pipe, fit_early_stopping(pipe, train, data.valid, _config(size, seq_len, progress))


def train_draft(data: DigitsSplit, *, steps: int = 600, progress: bool = False) -> arkit.Pipeline:
    """A 1-layer, d_model 32 raster model over the same pixel tokens (a cheap draft model)."""
    pipe, _ = train_raster(data, ModelSize(d_model=32, n_layers=1, n_heads=2, steps=steps), progress=progress)
    return pipe


def train_next_scale(data: DigitsSplit, size: ModelSize = ModelSize(), *, codebook_size: int = 32,
                     tokenizer_steps: int = 400, progress: bool = False) -> tuple[arkit.Pipeline, EarlyStopped]:
    """An msvq tokenizer (scales 1, 2, 4, 8) fitted on the training digits, then a next-scale model."""
    tokenizer = MultiScaleVQTokenizer(codebook_size=codebook_size, seed=size.seed)
    tokenizer.fit(data.train, steps=tokenizer_steps, progress=progress)
    schedule = tokenizer.schedule
    seq_len = 2 + schedule.input_length  # bos class, then every scale's inputs
    pipe = _pipeline(tokenizer, size, seq_len + 8)
    train = scale_items(tokenizer, with_label_dropout(data.train, size.label_dropout, seed=size.seed))
    valid = scale_items(tokenizer, data.valid)
    return pipe, fit_early_stopping(pipe, train, valid, _config(size, seq_len, progress), schedule=schedule)
