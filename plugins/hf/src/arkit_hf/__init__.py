"""arkit-hf: bring Hugging Face transformers causal LMs to arkit's samplers, caches and export."""

from .backbone import HFCausalLMBackbone
from .convert import from_transformers, save_llama, to_llama
from .tokenizer import HFTokenizer

__all__ = ["HFCausalLMBackbone", "HFTokenizer", "from_transformers", "save_llama", "to_llama"]
__version__ = "0.1.0"
