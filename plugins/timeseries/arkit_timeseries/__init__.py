"""arkit-timeseries: time-series forecasting with autoregressive models (Chronos-style tokens)."""

from .bins import MeanScaleBinsTokenizer
from .patch import PatchTokenizer
from .scaling import Scale

__all__ = ["MeanScaleBinsTokenizer", "PatchTokenizer", "Scale"]
__version__ = "0.1.0.dev0"
