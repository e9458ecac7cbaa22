"""The shipped checkpoint: ``docstrings``, a retriever that indexed the stdlib docstring corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arkit import ConfigError

__all__ = ["CHECKPOINTS", "pretrained_retriever"]

CHECKPOINTS = Path(__file__).parent / "checkpoints"


def pretrained_retriever(name: str = "docstrings", **kwargs: Any) -> Any:
    """The shipped retriever ``name`` (trained by ``plugins/retrieval/scripts/train_docstrings.py``)."""
    from .retriever import Retriever

    folder = CHECKPOINTS / name
    if not (folder / "pipeline.json").is_file():
        known = sorted(p.name for p in CHECKPOINTS.iterdir() if p.is_dir()) if CHECKPOINTS.is_dir() else []
        raise ConfigError(f"no shipped checkpoint {name!r} (have: {', '.join(known) or 'none'}); "
                          f"train one with plugins/retrieval/scripts/train_docstrings.py")
    return Retriever.from_pretrained(folder, **kwargs)
