"""The module the ``arkit`` entry point names: hook implementations only (cheap to import: the components
import pycodec2, espeak-ng, pocketsphinx and scipy only when used). Components are registered by import path, so
that listing them (``arkit plugins``) imports no torch."""

from __future__ import annotations

import arkit
from arkit.hookspecs import CommandRegister, ComponentRegister, PresetRegister


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``speech/codec2`` (audio <-> codec2 frames as K tokens), ``speech/mel-rvq`` (audio <-> learned residual-VQ
    log-mel frames) and ``speech/tts`` (phonemes + prompt + codes)."""
    register("speech/codec2", "arkit_speech.codec2:Codec2Tokenizer",
             description="codec2 speech codec (pycodec2, 8 kHz): each frame's bits as K codebook tokens "
                         "(mode 1200: 6 x 8 bits per 40 ms); every id sequence decodes")
    register("speech/mel-rvq", "arkit_speech.melrvq:MelRVQTokenizer",
             description="learned: log-mel frames (8 kHz, 4 x 10 ms per frame) as K residual-VQ k-means ids, "
                         "decoded by Griffin-Lim (librosa); fit(clips) or arkit_speech.pretrained_mel_rvq()")
    register("speech/tts", "arkit_speech.tts:TTSTokenizer",
             description="[voice] prompt codes [text] espeak-ng IPA phonemes [audio] codec2 codes, "
                         "for decoder-only text to speech")


@arkit.hookimpl
def arkit_register_pipeline_presets(register: PresetRegister) -> None:
    """``speech/tts-small``: an untrained 1.2M-parameter TTS model (see ``arkit_speech.presets``)."""
    from .presets import PRESETS

    for name, (components, description) in PRESETS.items():
        register(name, components, description=description)


@arkit.hookimpl
def arkit_register_constraints(register: ComponentRegister) -> None:
    """``speech/codebooks``: flat codec ids in codebook order, ending only between frames."""
    register("speech/codebooks", "arkit_speech.constraint:CodebookConstraint",
             description="flatten pattern: position n from codebook n % K's ids, eos only between frames "
                         "(min_frames..max_frames)")


@arkit.hookimpl
def arkit_register_commands(register: CommandRegister) -> None:
    """``arkit speech demo``, ``arkit speech eval`` and ``arkit speech say``."""
    register("speech", "arkit_speech.cli:run", help="text to speech over codec2 tokens: demo, eval, say",
             arguments="arkit_speech.cli:add_arguments")  # imported only when the command is used
