"""A template arkit plugin."""

from .chars import CharTokenizer
from .top_a import TopA

__all__ = ["CharTokenizer", "TopA"]
__version__ = "0.1.0"
