"""arkit-timeseries: time-series forecasting with autoregressive models (Chronos-style tokens)."""

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .bins import MeanScaleBinsTokenizer
    from .forecast import Forecast, forecast, scaled_for_training
    from .patch import PatchTokenizer
    from .presets import pretrained
    from .scaling import Scale
    from .training import TrainingWindows, pretrain

__all__ = ["Forecast", "MeanScaleBinsTokenizer", "PatchTokenizer", "Scale", "TrainingWindows", "forecast", "pretrain",
           "pretrained", "scaled_for_training"]
__version__ = "0.1.0.dev0"


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "MeanScaleBinsTokenizer": ".bins",
    "Forecast": ".forecast",
    "forecast": ".forecast",
    "scaled_for_training": ".forecast",
    "PatchTokenizer": ".patch",
    "pretrained": ".presets",
    "Scale": ".scaling",
    "TrainingWindows": ".training",
    "pretrain": ".training",
}


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """This package's module type: ``forecast`` stays the function when the submodule ``forecast`` is imported.

    The import system binds each imported submodule on its package under its own name, which would hide the
    lazily exported function of the same name; as with an eager ``from .forecast import forecast``, the
    function wins.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == f".{name}" and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
