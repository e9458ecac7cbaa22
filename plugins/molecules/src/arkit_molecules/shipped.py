"""The shipped checkpoints: pipelines pre-trained on MOSES, installed with the package.

``smiles-moses`` (and ``selfies-moses`` when shipped) live in
``arkit_molecules/checkpoints/<name>``: a ``Pipeline.save_pretrained`` folder with
float16 weights, ``training.json`` (seed, data, step count, configuration) and
``training_log.jsonl`` (the loss curve). ``plugins/molecules/scripts/pretrain.py``
rebuilds them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arkit import ConfigError

__all__ = ["CHECKPOINTS", "checkpoint_path", "list_checkpoints", "pretrained", "training_info"]

#: The folder holding the shipped checkpoints.
CHECKPOINTS = Path(__file__).resolve().parent / "checkpoints"


def list_checkpoints() -> list[str]:
    """Names of the shipped checkpoints (folders with a ``pipeline.json``)."""
    if not CHECKPOINTS.is_dir():
        return []
    return sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "pipeline.json").is_file())


def checkpoint_path(name: str = "smiles-moses") -> Path:
    """The folder of the shipped checkpoint ``name``; :class:`arkit.ConfigError` when there is none."""
    folder = CHECKPOINTS / name
    if not (folder / "pipeline.json").is_file():
        raise ConfigError(f"no shipped molecule checkpoint {name!r} (have: {', '.join(list_checkpoints()) or 'none'}); "
                          f"train one with plugins/molecules/scripts/pretrain.py")
    return folder


def pretrained(name: str = "smiles-moses") -> Any:
    """The shipped pre-trained pipeline ``name`` (an :class:`arkit.Pipeline`)."""
    import arkit

    return arkit.Pipeline.from_pretrained(checkpoint_path(name))


def training_info(name: str = "smiles-moses") -> dict[str, Any]:
    """What ``training.json`` records about how the checkpoint ``name`` was trained."""
    path = checkpoint_path(name) / "training.json"
    if not path.is_file():
        raise ConfigError(f"the checkpoint {name!r} has no training.json; rebuild it with "
                          f"plugins/molecules/scripts/pretrain.py")
    return json.loads(path.read_text())
