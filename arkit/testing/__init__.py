"""arkit's public test kit for plugin authors.

- Contract base classes, one per component kind: subclass one in a ``Test...``
  class and pytest runs the whole contract over your component
  (see :mod:`arkit.testing.contracts`).
- :func:`register_plugin`: register an in-process plugin for the duration of a
  ``with`` block (the ``arkit_register_plugin`` pytest fixture does the same for a test).
- :mod:`arkit.testing.strategies`: hypothesis strategies for ids, logits and prompts.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
from typing import Any

from ..plugins import _registered_plugin
from . import strategies
from .contracts import (
    BackboneContract,
    CacheContract,
    DrafterContract,
    HeadContract,
    SamplerContract,
    TokenizerContract,
)

__all__ = [
    "BackboneContract",
    "CacheContract",
    "DrafterContract",
    "HeadContract",
    "SamplerContract",
    "TokenizerContract",
    "register_plugin",
    "strategies",
]


@contextlib.contextmanager
def register_plugin(plugin: Any, name: str) -> Iterator[Any]:
    """Register ``plugin`` (a module or an object with ``@arkit.hookimpl`` methods) under
    ``name`` while the block runs; its components are in the registry, then gone again."""
    with _registered_plugin(plugin, name) as registered:
        yield registered
