"""The shipped checkpoints: float16 safetensors under ``arkit_vision/checkpoints``, rebuilt by
``plugins/vision/scripts/pretrain.py`` (each folder holds ``training.json``: seed, data, steps, and
``training_log.jsonl``: the run's metrics).

- ``digits-raster``: ``vision/pixels`` tokens, raster order (8 x 8 digits).
- ``digits-next-scale``: ``vision/msvq`` (scales 1, 2, 4, 8), next-scale prediction.
- ``shapes-raster``: ``vision/vq`` (an 8 x 8 map of codes for 32 x 32 RGB shapes), raster order;
  also the target model of the LANTERN benchmark.
- ``shapes-draft``: a 1-layer model over the same codes, the draft model of speculative decoding.
- ``shapes-next-scale``: ``vision/msvq`` over 32 x 32 RGB shapes (scales 1, 2, 4, 8), next-scale.

The three shapes models were trained on the 2,000 training shapes of :func:`split`, then fine-tuned on
those plus 18,000 new procedural shapes (``make_shapes(18000, seed=1)``; never the validation or test shapes).
- ``judge-digits``, ``judge-shapes``: the CNN feature spaces of the Frechet distance
  (:mod:`arkit_vision.features`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import arkit

from .datasets import ImageSplit, load_digits, load_shapes

if TYPE_CHECKING:
    from .features import CNNJudge

__all__ = ["CHECKPOINTS", "JUDGES", "JUDGE_TRAIN", "MODELS", "SHAPES_TRAIN", "checkpoint_path", "load_judge",
           "load_model", "split"]

CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""The folder of the shipped checkpoints."""

MODELS = ("digits-raster", "digits-next-scale", "shapes-raster", "shapes-draft", "shapes-next-scale")
"""The shipped image models, by name."""

JUDGES = ("digits", "shapes")
"""The shipped CNN judges (``judge-<name>``)."""

SHAPES_TRAIN = 2_000
"""Training shapes of :func:`split` (the shipped shapes models were then fine-tuned on these plus 18,000
more drawn by ``make_shapes(18000, seed=1)``; their ``training.json`` says so)."""

JUDGE_TRAIN = 2_000
"""The judges of shapes (MLP and CNN) learn from the first this-many training shapes (all of them)."""


def split(dataset: str) -> ImageSplit:
    """The data the shipped models were trained (train), early-stopped (valid) and are evaluated (test) on:
    ``load_digits(seed=0)`` (1,350 / 150 / 297) or ``load_shapes(train=2000, valid=200, test=400, seed=0)``."""
    if dataset == "digits":
        return load_digits(seed=0)
    if dataset == "shapes":
        return load_shapes(train=SHAPES_TRAIN, valid=200, test=400, seed=0)
    raise arkit.ConfigError(f"no vision dataset named {dataset!r}; known: digits, shapes")


def checkpoint_path(name: str) -> Path:
    """The folder of the shipped checkpoint ``name`` (one of :data:`MODELS` or ``judge-<dataset>``)."""
    known = (*MODELS, *(f"judge-{j}" for j in JUDGES))
    if name not in known:
        raise arkit.ConfigError(f"no shipped vision checkpoint named {name!r}; known: {', '.join(known)}")
    path = CHECKPOINTS / name
    if not path.is_dir():
        raise arkit.CheckpointError(f"the shipped checkpoint {name!r} is missing from {CHECKPOINTS}: rebuild it with "
                                    f"`python plugins/vision/scripts/pretrain.py --stages {name}`, or train from "
                                    "scratch (`arkit vision eval --from-scratch`)")
    return path


def load_model(name: str) -> arkit.Pipeline:
    """The shipped pipeline ``name`` (one of :data:`MODELS`), in eval mode."""
    pipe = arkit.Pipeline.from_pretrained(checkpoint_path(name))
    pipe.backbone.eval(), pipe.head.eval()
    return pipe


def load_judge(dataset: str) -> CNNJudge:
    """The shipped :class:`~arkit_vision.features.CNNJudge` of ``dataset`` (``"digits"`` or ``"shapes"``)."""
    from .features import load_cnn_judge

    if dataset not in JUDGES:
        raise arkit.ConfigError(f"no CNN judge for {dataset!r}; known: {', '.join(JUDGES)}")
    return load_cnn_judge(checkpoint_path(f"judge-{dataset}"))
