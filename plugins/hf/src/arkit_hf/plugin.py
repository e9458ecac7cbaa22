"""arkit-hf's hook implementations."""

from __future__ import annotations

from typing import Any

import arkit

from .backbone import HFCausalLMBackbone
from .tokenizer import HFTokenizer


@arkit.hookimpl
def arkit_register_backbones(register: Any) -> None:
    register("hf/causal-lm", HFCausalLMBackbone)


@arkit.hookimpl
def arkit_register_tokenizers(register: Any) -> None:
    register("hf/tokenizer", HFTokenizer)
