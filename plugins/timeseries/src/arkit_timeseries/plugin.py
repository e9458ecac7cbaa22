"""The module the ``arkit`` entry point names: hook implementations only (cheap to import).

Components are registered by import path, so that listing them (``arkit plugins``) imports no torch.
"""

from __future__ import annotations

import math  # math.nan: one object, so registrations compare equal (NaN != NaN otherwise)

import arkit
from arkit.hookspecs import CommandRegister, ComponentRegister, PresetRegister



@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``timeseries/mean-scale-bins`` and ``timeseries/patch``; the examples are series they encode."""
    register(
        "timeseries/mean-scale-bins", "arkit_timeseries.bins:MeanScaleBinsTokenizer",
        description="Chronos-style: mean (or mean-std) scaling, uniform bins over [low, high], NaN as a missing id",
        examples=([], [0.0, 0.0, 0.0], [1.0, 2.5, math.nan, -3.0], [350.1, 351.3, 352.0, 350.8], [1e-6, -2e-6]),
    )
    register(
        "timeseries/patch", "arkit_timeseries.patch:PatchTokenizer",
        description="fixed-length patches of real values as vectors, for continuous heads (vocab_size 0)",
        examples=([], [float(i) for i in range(8)], [0.5, -1.0, 2.0, 3.0, 1e6, -1e-6, 0.0, 7.0] * 2),
    )


@arkit.hookimpl
def arkit_register_pipeline_presets(register: PresetRegister) -> None:
    """``timeseries/chronos-mini`` (bins + categorical head) and ``timeseries/patch-gmm`` (continuous)."""
    from .presets import PRESETS

    for name, (components, description) in PRESETS.items():
        register(name, components, description=description)


@arkit.hookimpl
def arkit_register_commands(register: CommandRegister) -> None:
    """``arkit timeseries eval|demo|archeck|bench``."""
    register("timeseries", "arkit_timeseries.cli:run", help="time-series forecasting: eval, demo, archeck, bench",
             arguments="arkit_timeseries.cli:arguments")  # imported only when the command is used
