"""arkit-hf's hook implementations: components registered by import path (listing them imports no torch)."""

from __future__ import annotations

from typing import Any

import arkit


@arkit.hookimpl
def arkit_register_backbones(register: Any) -> None:
    register("hf/causal-lm", "arkit_hf.backbone:HFCausalLMBackbone",
             description="The base model (everything but the LM head) of a transformers causal LM.")


@arkit.hookimpl
def arkit_register_tokenizers(register: Any) -> None:
    register("hf/tokenizer", "arkit_hf.tokenizer:HFTokenizer",
             description="Wraps a ``tokenizers.Tokenizer`` given as its JSON (``tokenizer.json`` content).")


@arkit.hookimpl
def arkit_register_converters(register: Any) -> None:
    # what arkit's benchmarks compare with, found by name (arkit.registry.get_converter) so arkit never imports us
    register("hf/llama", "arkit_hf.convert:to_llama",
             description="core/transformer + head -> transformers.LlamaForCausalLM with the same weights.")
    register("hf/llama-folder", "arkit_hf.convert:save_llama",
             description="core/transformer + head -> a Hugging Face Llama folder (config, safetensors, tokenizer).")
