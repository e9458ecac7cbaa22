"""The module the ``arkit`` entry point names: hook implementations only.

Keep it cheap to import: arkit imports it the first time the registry is used.
"""

from __future__ import annotations

import arkit
from arkit.hookspecs import ComponentRegister

from .chars import CharTokenizer
from .top_a import TopA


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``example/chars``; the examples are items its default alphabet can encode."""
    register("example/chars", CharTokenizer, examples=("hello world", "a", ""))


@arkit.hookimpl
def arkit_register_samplers(register: ComponentRegister) -> None:
    """``example/top-a``."""
    register("example/top-a", TopA)
