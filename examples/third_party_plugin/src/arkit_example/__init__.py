"""arkit-example: a template arkit plugin.

Components (registered by :mod:`arkit_example.plugin` through the ``arkit`` entry point):

- ``example/chars``: :class:`CharTokenizer`, a character tokenizer with a learned alphabet;
- ``example/top-a``: :class:`TopA`, top-a sampling.
"""

from .chars import CharTokenizer
from .top_a import TopA

__all__ = ["CharTokenizer", "TopA"]
__version__ = "0.1.0"
