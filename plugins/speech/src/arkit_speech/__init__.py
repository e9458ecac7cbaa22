"""arkit-speech: text to speech over codec2 tokens for arkit.

Components (registered through the ``arkit`` entry point): ``speech/codec2`` and
``speech/tts`` tokenizers, the ``speech/codebooks`` constraint, the ``speech/tts-small``
preset. :func:`speak` turns text into audio with a trained pipeline; :func:`pretrained`
loads the shipped digit-string checkpoints.
"""

from .audio import Audio, resample
from .codec2 import Codec2Tokenizer
from .constraint import CodebookConstraint
from .presets import pretrained
from .schedule import CodecSchedule
from .synth import Speech, speak
from .tts import TTSTokenizer, Utterance

__all__ = ["Audio", "CodebookConstraint", "Codec2Tokenizer", "CodecSchedule", "Speech", "TTSTokenizer", "Utterance",
           "pretrained", "resample", "speak"]
