"""The plugin module named by the entry point: hook implementations only."""

from __future__ import annotations

from typing import Any

import arkit

from .chars import CharTokenizer
from .top_a import TopA


@arkit.hookimpl
def arkit_register_tokenizers(register: Any) -> None:
    register("example/chars", CharTokenizer, examples=("hello world", "a", ""))


@arkit.hookimpl
def arkit_register_samplers(register: Any) -> None:
    register("example/top-a", TopA)
