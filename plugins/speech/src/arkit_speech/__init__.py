"""arkit-speech: text to speech over codec2 tokens for arkit.

Components (registered through the ``arkit`` entry point): ``speech/codec2``, ``speech/mel-rvq``
and ``speech/tts`` tokenizers, the ``speech/codebooks`` constraint, the ``speech/tts-small``
preset. :func:`speak` turns text into audio with a trained pipeline; :func:`pretrained`
loads the shipped digit-string checkpoints.
"""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .audio import Audio, resample
    from .codec2 import Codec2Tokenizer
    from .constraint import CodebookConstraint
    from .melrvq import MelRVQTokenizer, log_mel_distance, pretrained_mel_rvq
    from .presets import pretrained
    from .schedule import CodecSchedule
    from .synth import Speech, speak
    from .tts import TTSTokenizer, Utterance

__all__ = ["Audio", "CodebookConstraint", "Codec2Tokenizer", "CodecSchedule", "MelRVQTokenizer", "Speech",
           "TTSTokenizer", "Utterance", "log_mel_distance", "pretrained", "pretrained_mel_rvq", "resample", "speak"]


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "audio": ["Audio", "resample"],
        "codec2": ["Codec2Tokenizer"],
        "constraint": ["CodebookConstraint"],
        "melrvq": ["MelRVQTokenizer", "log_mel_distance", "pretrained_mel_rvq"],
        "presets": ["pretrained"],
        "schedule": ["CodecSchedule"],
        "synth": ["Speech", "speak"],
        "tts": ["TTSTokenizer", "Utterance"],
    },
)
