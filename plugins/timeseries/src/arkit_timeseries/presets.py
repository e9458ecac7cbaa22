"""The plugin's preset pipelines and the shipped pre-trained checkpoint.

- ``timeseries/chronos-mini``: ``timeseries/mean-scale-bins`` (512 bins over
  [-8, 8], mean-std scaling) -> a 4-layer, 128-wide ``core/transformer`` ->
  ``core/categorical`` -> ``core/multinomial``: about 0.9M parameters.
  ``Pipeline.from_preset`` builds it with random weights; :func:`pretrained`
  loads the weights that ship with the plugin (trained by
  ``plugins/timeseries/scripts/pretrain.py``).
- ``timeseries/patch-gmm``: ``timeseries/patch`` (patches of 8 values) ->
  ``core/transformer(input_dim=8)`` -> ``core/gaussian-mixture(dim=8)``: a
  continuous forecaster (see :mod:`arkit_timeseries.continuous`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arkit.errors import ConfigError

__all__ = ["CHECKPOINTS", "PRESETS", "pretrained"]

_BINS = 512
_D_MODEL = 128
_PATCH = 8

PRESETS: dict[str, tuple[dict[str, tuple[str, dict[str, Any]]], str]] = {
    "timeseries/chronos-mini": (
        {
            "tokenizer": ("timeseries/mean-scale-bins", {"bins": _BINS, "low": -8.0, "high": 8.0, "scaling": "mean-std"}),
            "backbone": ("core/transformer", {"vocab_size": _BINS + 3, "d_model": _D_MODEL, "n_layers": 4,
                                               "n_heads": 4, "max_seq_len": 512}),
            "head": ("core/categorical", {"d_model": _D_MODEL, "vocab_size": _BINS + 3}),
            "sampler": ("core/multinomial", {}),
        },
        "Chronos-style forecaster, 0.9M parameters: mean-std scaling, 512 bins; "
        "arkit_timeseries.pretrained() loads the shipped weights",
    ),
    "timeseries/patch-gmm": (
        {
            "tokenizer": ("timeseries/patch", {"patch_length": _PATCH, "scaling": "mean-std"}),
            "backbone": ("core/transformer", {"vocab_size": 1, "d_model": _D_MODEL, "n_layers": 4, "n_heads": 4,
                                               "max_seq_len": 128, "input_dim": _PATCH}),
            "head": ("core/gaussian-mixture", {"d_model": _D_MODEL, "dim": _PATCH, "components": 4}),
        },
        "continuous forecaster: patches of 8 values, Gaussian-mixture head (arkit_timeseries.continuous)",
    ),
}

CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""Where the shipped pipelines live: ``CHECKPOINTS / <name>`` is a ``save_pretrained`` folder."""


def pretrained(name: str = "chronos-mini") -> Any:
    """The shipped pre-trained pipeline ``name`` (a ``Pipeline.from_pretrained`` folder in the package)."""
    import arkit

    folder = CHECKPOINTS / name
    if not folder.is_dir():
        known = sorted(p.name for p in CHECKPOINTS.iterdir() if p.is_dir()) if CHECKPOINTS.is_dir() else []
        raise ConfigError(f"no shipped checkpoint {name!r} (have: {', '.join(known) or 'none'}); "
                          f"train one with plugins/timeseries/scripts/pretrain.py")
    return arkit.Pipeline.from_pretrained(folder)
