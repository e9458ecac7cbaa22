"""arkit's public test kit for plugin authors.

- Contract base classes, one per component kind: subclass one in a ``Test...``
  class and pytest runs the whole contract over your component (what each checks
  is in :mod:`arkit.testing.contracts`)::

      from hypothesis import strategies as st
      from arkit.testing import TokenizerContract

      class TestMyTokenizer(TokenizerContract):
          component = "mydomain/my-tokenizer"
          config = {"alphabet": "abc"}
          items = st.text(alphabet="abc")

- :func:`register_plugin`: register an in-process plugin for the duration of a
  ``with`` block. The ``arkit_register_plugin`` pytest fixture (from arkit's pytest
  plugin, :mod:`arkit.testing.pytest_plugin`) does the same for one test.
- :mod:`arkit.testing.strategies`: hypothesis strategies for token ids, logits,
  contexts and prompt batches.
- :mod:`arkit.testing.lossless`: :func:`~arkit.testing.lossless.assert_lossless` holds a
  drafter (with an acceptance rule) to losslessness: its sampled sequences are compared
  with the exactly enumerated distribution of plain decoding (docs/security.md).

Importing this package is cheap: the contracts (which import hypothesis) and the
strategies load on first access, and torch with the registry when a plugin is
registered, so arkit's pytest plugin (loaded by every pytest session in an
environment with arkit) stays light.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import importlib
from typing import TYPE_CHECKING, Any
import warnings

from ..errors import ArkitPluginWarning, PluginLoadError
from ..plugins import get_host, registered_plugin

if TYPE_CHECKING:
    from . import strategies
    from .contracts import (
        AcceptanceContract,
        BackboneContract,
        CacheContract,
        ConstraintContract,
        DrafterContract,
        HeadContract,
        SamplerContract,
        TokenizerContract,
    )

__all__ = [
    "BackboneContract",
    "AcceptanceContract",
    "CacheContract",
    "ConstraintContract",
    "DrafterContract",
    "HeadContract",
    "SamplerContract",
    "TokenizerContract",
    "lossless",
    "register_id_tokenizer",
    "register_plugin",
    "strategies",
]

_CONTRACTS = frozenset(
    {
        "AcceptanceContract",
        "BackboneContract",
        "CacheContract",
        "ConstraintContract",
        "DrafterContract",
        "HeadContract",
        "SamplerContract",
        "TokenizerContract",
    }
)


def __getattr__(name: str) -> Any:
    if name in _CONTRACTS:
        return getattr(importlib.import_module(".contracts", __name__), name)
    if name in ("strategies", "lossless"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


@contextlib.contextmanager
def register_plugin(plugin: Any, name: str) -> Iterator[Any]:
    """Register ``plugin`` under ``name`` while the block runs, then unregister it.

    ``plugin`` is a module or any object with ``@arkit.hookimpl`` functions, as an
    entry point would name. Its components are in the registry inside the block
    and gone after it, even when the block raises::

        with register_plugin(MyPlugin(), "mydomain"):
            sampler = arkit.create("sampler", "mydomain/top-a")

    Unlike a plugin loaded from an entry point, a plugin that fails here raises
    instead of being recorded: :class:`ValueError` when ``name`` is already taken
    by a loaded plugin, :class:`arkit.PluginLoadError` when its hooks are invalid or
    a registration fails (a duplicate component name, an object that does not
    satisfy its protocol). Yields ``plugin``.
    """
    from ..registry import list_components  # imports torch: not at import time (arkit's pytest plugin)

    host = get_host()
    if name in host.records:
        raise ValueError(f"a plugin named {name!r} is already loaded; register yours under another name")
    with contextlib.ExitStack() as stack:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ArkitPluginWarning)  # failures are raised below instead
            stack.enter_context(registered_plugin(plugin, name))
            list_components()  # run the plugin's hooks now, so that a bad registration fails here
        record = host.records.get(name)
        if record is None or record.error is not None:
            raise PluginLoadError(name, None, record.error if record is not None else "it was not registered")
        yield plugin


@contextlib.contextmanager
def register_id_tokenizer(owner: str) -> Iterator[str]:
    """Register :class:`arkit.tokenizers.ids.IdTokenizer` as ``ids/ids`` while the block runs; yield that name.

    The tokenizer of benchmarks and contract tests: items are lists of token ids.
    It is registered by a plugin named ``f"{owner}-ids"`` (so that saving a pipeline
    names its tokenizer), and unregistered after the block.
    """
    from ..tokenizers.ids import NAME, IdsPlugin

    with register_plugin(IdsPlugin(), f"{owner}-ids"):
        yield NAME
