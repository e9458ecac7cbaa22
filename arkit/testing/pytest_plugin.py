"""arkit's pytest plugin (entry point ``pytest11: arkit``): fixtures for plugin authors.

``arkit_register_plugin(plugin, name)`` registers an in-process plugin for one test
and unregisters it at teardown::

    def test_my_sampler(arkit_register_plugin):
        arkit_register_plugin(MyPlugin(), "mine")
        assert arkit.create("sampler", "mine/sampler")
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import contextlib
from typing import Any

import pytest


@pytest.fixture()
def arkit_register_plugin() -> Iterator[Callable[[Any, str], Any]]:
    from arkit.testing import register_plugin

    with contextlib.ExitStack() as stack:
        yield lambda plugin, name: stack.enter_context(register_plugin(plugin, name))
