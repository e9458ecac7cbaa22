"""Small shape models and how they are trained (one CPU thread, budgets in steps).

- :func:`polygen_pipeline`: a decoder over ``shapes/polygen`` ids, documents
  ``[bos, class or null, vertices, vertices_end, faces, eos]``.
- :func:`with_label_dropout`: the labelled shapes plus unlabelled copies of a share of them
  (the null-class rows classifier-free guidance needs).
- :func:`train_polygen`: ``Pipeline.fit`` on those documents.
- :func:`save_half` / :func:`load_pretrained`: shipped checkpoints are float16 safetensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import arkit

from .polygen import PolygenTokenizer
from .shape import Shape, check_shapes

__all__ = ["CHECKPOINTS", "load_pretrained", "octree_pipeline", "polygen_pipeline", "save_half", "train_octree", "train_polygen",
           "with_label_dropout"]

CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""Where the shipped checkpoints live (``polygen-mini``)."""


def polygen_pipeline(tokenizer: PolygenTokenizer | None = None, *, d_model: int = 128, n_layers: int = 4,
                     n_heads: int = 4, max_seq_len: int = 320, seed: int = 0) -> arkit.Pipeline:
    """An untrained ``core/transformer`` + ``core/categorical`` pipeline over ``tokenizer``'s ids (default config)."""
    tokenizer = tokenizer or PolygenTokenizer()
    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tokenizer.vocab_size, d_model=d_model,
                            n_layers=n_layers, n_heads=n_heads, max_seq_len=max_seq_len)
    head = arkit.create("head", "core/categorical", vocab_size=tokenizer.vocab_size, d_model=d_model)
    return arkit.Pipeline(tokenizer=tokenizer, backbone=backbone, head=head,
                          sampler=arkit.create("sampler", "core/multinomial", temperature=1.0))


def with_label_dropout(shapes: Sequence[Shape], p: float = 0.1, *, seed: int = 0) -> list[Shape]:
    """``shapes`` plus an unlabelled copy of a random ``p`` share of them (null-class rows for guidance)."""
    if not 0.0 <= p < 1.0:
        raise arkit.ConfigError(f"label dropout p must be in [0, 1), got {p!r}")
    rng = np.random.default_rng(seed)
    return [*shapes, *(Shape(mesh=s.mesh, label=None) for s in shapes if rng.random() < p)]


def train_polygen(pipe: arkit.Pipeline, shapes: Sequence[Any], *, steps: int, batch_size: int = 32,
                  seq_len: int = 256, lr: float = 2e-3, label_dropout: float = 0.1, seed: int = 0,
                  progress: bool = False, **options: Any) -> arkit.TrainResult:
    """Train ``pipe`` on ``shapes`` (checked first: a bad one raises an InputError naming its index) for ``steps``.

    ``options`` go to :class:`arkit.TrainConfig` (``out_dir``, ``checkpoint_every``, ``metrics_path``, ...).
    """
    checked = check_shapes(shapes, num_classes=getattr(pipe.tokenizer, "num_classes", None))
    for i, shape in enumerate(checked):  # encode once up front so a shape the tokenizer rejects names its index
        try:
            pipe.tokenizer.encode(shape)
        except arkit.InputError as err:
            raise arkit.InputError(f"shape {i}: {err}") from None
    data = with_label_dropout(checked, label_dropout, seed=seed)
    config = arkit.TrainConfig(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, warmup_steps=min(100, steps // 10),
                               overflow="truncate", threads=1, progress=progress, seed=seed, **options)
    return pipe.fit(data, config)


def save_half(pipe: arkit.Pipeline, directory: str | Path) -> Path:
    """Save ``pipe`` with float16 weights (the modules are put back to float32 afterwards)."""
    modules = [pipe.backbone, pipe.head]
    for m in modules:
        m.half()
    try:
        return pipe.save_pretrained(directory)
    finally:
        for m in modules:
            m.float()


def load_pretrained(name: str = "polygen-mini") -> arkit.Pipeline:
    """A shipped checkpoint (float16 on disk) as a float32 pipeline in eval mode."""
    path = CHECKPOINTS / name
    if not (path / "pipeline.json").is_file():
        raise arkit.ConfigError(f"no shipped checkpoint {name!r} under {CHECKPOINTS}; rebuild it with "
                                "plugins/shapes/scripts/pretrain.py")
    pipe = arkit.Pipeline.from_pretrained(path)
    pipe.backbone.float().eval()
    pipe.head.float().eval()
    return pipe


def octree_pipeline(tokenizer: Any = None, *, d_model: int = 96, n_layers: int = 3, n_heads: int = 4,
                    max_seq_len: int = 640, seed: int = 0) -> arkit.Pipeline:
    """An untrained pipeline over ``shapes/octree`` ids (default: 16^3, five classes)."""
    from .octree import OctreeTokenizer

    return polygen_pipeline(tokenizer or OctreeTokenizer(), d_model=d_model, n_layers=n_layers, n_heads=n_heads,
                            max_seq_len=max_seq_len, seed=seed)


def train_octree(pipe: arkit.Pipeline, shapes: Sequence[Any], *, steps: int, batch_size: int = 8, lr: float = 2e-3,
                 label_dropout: float = 0.1, seed: int = 0, progress: bool = False,
                 **options: Any) -> arkit.TrainResult:
    """Level-by-level training (:class:`~arkit_shapes.octree.OctreeSchedule`) on ``shapes`` voxelised; ``seq_len``
    is the longest item's length."""
    from .octree import OctreeSchedule

    schedule = OctreeSchedule(pipe.tokenizer)
    checked = check_shapes(shapes, num_classes=pipe.tokenizer.num_classes)
    items = []
    for i, shape in enumerate(with_label_dropout(checked, label_dropout, seed=seed)):
        try:
            items.append(schedule.item(shape))
        except arkit.InputError as err:
            raise arkit.InputError(f"shape {i}: {err}") from None
    seq_len = 2 + max(sum(len(level) for level in blocks[1:]) for _, blocks in items)
    config = arkit.TrainConfig(steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr,
                               warmup_steps=min(100, steps // 10), threads=1, progress=progress, seed=seed, **options)
    return pipe.fit(items, config, schedule=schedule)
