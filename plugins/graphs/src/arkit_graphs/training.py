"""Training the plugin's models: a preset, a dataset's (augmented) training graphs, a step budget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arkit

from .datasets import augment
from .graph import Graph

__all__ = ["TOKENIZER_PRESETS", "train_pipeline"]

#: Tokenizer short names to the presets that use them.
TOKENIZER_PRESETS = {"bfs": "graphs/bfs-small", "edge-list": "graphs/edge-list-small", "layers": "graphs/layers-small"}


def train_pipeline(
    graphs: Sequence[Graph],
    *,
    tokenizer: str = "bfs",
    steps: int = 1000,
    copies: int = 4,
    batch_size: int = 32,
    seq_len: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    model: dict[str, Any] | None = None,
    progress: bool = True,
    out_dir: str | None = None,
    order: str | None = None,
) -> arkit.Pipeline:
    """A small pipeline trained on ``copies`` random node orders of each graph (GraphRNN's BFS-start augmentation).

    ``tokenizer``: ``"bfs"``, ``"edge-list"`` or ``"layers"`` (trees only, trained block-wise with
    :class:`~arkit_graphs.bfs_layers.LayerSchedule`: one row per tree); ``model``: overrides of the backbone config
    (``{"d_model": 64, "n_layers": 2}``); ``order``: the ``"bfs"`` tokenizer's node order (``"bfs"`` or
    ``"max-cardinality"``; ``None`` keeps the preset's); documents longer than ``seq_len`` are never cut.
    """
    import torch

    if tokenizer not in TOKENIZER_PRESETS:
        raise arkit.ConfigError(f"tokenizer must be one of {sorted(TOKENIZER_PRESETS)}, got {tokenizer!r}")
    torch.manual_seed(seed)
    overrides: dict[str, Any] = {}
    if order is not None:
        if tokenizer != "bfs":
            raise arkit.ConfigError(f"order applies to the 'bfs' tokenizer only, not {tokenizer!r}")
        overrides["tokenizer"] = {"order": order}
    if model:
        overrides["backbone"] = dict(model)
        if "d_model" in model:
            overrides["head"] = {"d_model": model["d_model"]}
    pipe = arkit.Pipeline.from_preset(TOKENIZER_PRESETS[tokenizer], **overrides)
    data = augment(graphs, copies, seed=seed)
    pipe.tokenizer.fit(data)  # learns the bandwidth / node limit, naming any graph it cannot encode
    if tokenizer == "layers":
        from .bfs_layers import LayerSchedule

        items = [pipe.tokenizer.training_item(g) for g in data]
        width = max(len(pipe.tokenizer.encode(g)) for g in graphs) + 2
        pipe.fit(items, arkit.TrainConfig(steps=steps, batch_size=batch_size, seq_len=width, lr=lr,
                                          warmup_steps=min(50, steps // 10), seed=seed, threads=1, progress=progress,
                                          out_dir=out_dir, log_every=10), schedule=LayerSchedule(pipe.tokenizer))
        return pipe
    longest = max(len(pipe.tokenizer.encode(g)) for g in graphs) + 2
    pipe.fit(data, arkit.TrainConfig(steps=steps, batch_size=batch_size, seq_len=max(seq_len, longest), lr=lr,
                                     warmup_steps=min(50, steps // 10), seed=seed, threads=1, progress=progress,
                                     overflow="truncate", out_dir=out_dir, log_every=10))
    return pipe
