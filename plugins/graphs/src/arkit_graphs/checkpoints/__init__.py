"""Shipped checkpoints (saved pipelines), rebuilt by ``plugins/graphs/scripts/pretrain.py``."""

from __future__ import annotations

from pathlib import Path

import arkit

__all__ = ["CHECKPOINTS", "pretrained"]

CHECKPOINTS = Path(__file__).parent


def pretrained(name: str) -> arkit.Pipeline:
    """Load the shipped checkpoint ``name`` (``"trees"`` or ``"atlas-5"``)."""
    folder = CHECKPOINTS / name
    if not (folder / "pipeline.json").is_file():
        known = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "pipeline.json").is_file())
        raise arkit.ConfigError(f"no shipped checkpoint {name!r}; shipped: {known}")
    return arkit.Pipeline.from_pretrained(folder)
