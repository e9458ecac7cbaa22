"""arkit-timeseries: time-series forecasting with autoregressive models (Chronos-style tokens)."""

import sys
import types
from typing import TYPE_CHECKING, Any

import lazy_loader

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


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "bins": ["MeanScaleBinsTokenizer"],
        "forecast": ["Forecast", "forecast", "scaled_for_training"],
        "patch": ["PatchTokenizer"],
        "presets": ["pretrained"],
        "scaling": ["Scale"],
        "training": ["TrainingWindows", "pretrain"],
    },
)


#: Public functions defined in a submodule of the same name.
_SAME_NAME = frozenset({"forecast"})


class _Package(types.ModuleType):
    """This package's module type: ``forecast`` stays the function when the submodule ``forecast`` is imported.

    The import system binds each imported submodule on its package under its own name, which would hide the
    lazily exported function of the same name; as with an eager ``from .forecast import forecast``, the
    function wins.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _SAME_NAME and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
