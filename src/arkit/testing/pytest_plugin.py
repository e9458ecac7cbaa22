"""arkit's pytest plugin (entry point ``pytest11: arkit``): fixtures for plugin authors.

pytest loads it in every session of an environment where arkit is installed, so it
only adds a fixture (and asks pytest to rewrite the asserts of
:mod:`arkit.testing.contracts` for readable failures): no hooks, no options,
nothing that changes other test suites. Importing it imports arkit, but not the
contracts or hypothesis.

``arkit_register_plugin(plugin, name)`` registers an in-process plugin for one test
and unregisters it at teardown (see :func:`arkit.testing.register_plugin`)::

    def test_my_sampler(arkit_register_plugin):
        arkit_register_plugin(MyPlugin(), "mine")
        assert arkit.create("sampler", "mine/top-a").deterministic is False
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
import sys
from typing import Any

import pytest

from arkit.testing import register_plugin

__all__ = ["arkit_register_plugin"]

if "arkit.testing.contracts" not in sys.modules:  # (too late to rewrite it otherwise)
    # detailed assertion messages in contract failures, as in the author's own test files
    pytest.register_assert_rewrite("arkit.testing.contracts")


@pytest.fixture()
def arkit_register_plugin() -> Iterator[Callable[[Any, str], Any]]:
    """A function ``(plugin, name) -> plugin`` that registers ``plugin`` until the test ends.

    It may be called several times; every plugin is unregistered at teardown, the
    last registered first.
    """
    with contextlib.ExitStack() as stack:

        def register(plugin: Any, name: str) -> Any:
            return stack.enter_context(register_plugin(plugin, name))

        yield register
