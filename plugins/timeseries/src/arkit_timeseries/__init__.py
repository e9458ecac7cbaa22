"""arkit-timeseries: time-series forecasting with autoregressive models (Chronos-style tokens)."""

from .bins import MeanScaleBinsTokenizer
from .forecast import Forecast, forecast, scaled_for_training
from .patch import PatchTokenizer
from .presets import pretrained
from .scaling import Scale
from .training import TrainingWindows, pretrain

__all__ = ["Forecast", "MeanScaleBinsTokenizer", "PatchTokenizer", "Scale", "TrainingWindows", "forecast", "pretrain",
           "pretrained", "scaled_for_training"]
__version__ = "0.1.0.dev0"
