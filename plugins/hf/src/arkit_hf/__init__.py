"""arkit-hf: bring Hugging Face transformers causal LMs to arkit's samplers, caches and export."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .backbone import HFCausalLMBackbone
    from .convert import from_transformers, save_llama, to_llama
    from .tokenizer import HFTokenizer

__all__ = ["HFCausalLMBackbone", "HFTokenizer", "from_transformers", "save_llama", "to_llama"]
__version__ = "0.1.0"


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "HFCausalLMBackbone": ".backbone",
    "from_transformers": ".convert",
    "save_llama": ".convert",
    "to_llama": ".convert",
    "HFTokenizer": ".tokenizer",
}


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
