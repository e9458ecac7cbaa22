"""arkit-hf: bring Hugging Face transformers causal LMs to arkit's samplers, caches and export."""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .backbone import HFCausalLMBackbone
    from .convert import from_transformers, save_llama, to_llama
    from .tokenizer import HFTokenizer

__all__ = ["HFCausalLMBackbone", "HFTokenizer", "from_transformers", "save_llama", "to_llama"]
__version__ = "0.1.0"


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "backbone": ["HFCausalLMBackbone"],
        "convert": ["from_transformers", "save_llama", "to_llama"],
        "tokenizer": ["HFTokenizer"],
    },
)
