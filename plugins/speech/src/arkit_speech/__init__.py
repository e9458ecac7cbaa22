"""arkit-speech: text to speech over codec2 tokens for arkit.

Components (registered through the ``arkit`` entry point): ``speech/codec2`` and
``speech/tts`` tokenizers, the ``speech/codebooks`` constraint, the ``speech/tts-small``
preset. :func:`speak` turns text into audio with a trained pipeline; :func:`pretrained`
loads the shipped digit-string checkpoints.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .audio import Audio, resample
    from .codec2 import Codec2Tokenizer
    from .constraint import CodebookConstraint
    from .presets import pretrained
    from .schedule import CodecSchedule
    from .synth import Speech, speak
    from .tts import TTSTokenizer, Utterance

__all__ = ["Audio", "CodebookConstraint", "Codec2Tokenizer", "CodecSchedule", "Speech", "TTSTokenizer", "Utterance",
           "pretrained", "resample", "speak"]


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "Audio": ".audio",
    "resample": ".audio",
    "Codec2Tokenizer": ".codec2",
    "CodebookConstraint": ".constraint",
    "pretrained": ".presets",
    "CodecSchedule": ".schedule",
    "Speech": ".synth",
    "speak": ".synth",
    "TTSTokenizer": ".tts",
    "Utterance": ".tts",
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
