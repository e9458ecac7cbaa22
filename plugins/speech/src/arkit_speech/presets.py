"""The plugin's preset pipeline and its shipped checkpoint.

``speech/tts-small``: ``speech/tts`` (espeak IPA phonemes + codec2-1200 as 6 byte
codebooks) -> a 4-layer, 128-wide ``core/transformer`` -> ``core/categorical`` ->
``core/multinomial``: about 1.2M parameters. :func:`pretrained` loads the weights
trained by ``plugins/speech/scripts/pretrain.py`` (flatten pattern, digit strings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arkit import ConfigError

__all__ = ["CHECKPOINTS", "DEFAULT", "DELAY", "FLATTEN", "MAX_WORDS", "MODEL", "PRESETS", "PROMPT_FRAMES",
           "TRAINING_PER_VOICE", "TRAINING_SEED", "pretrained"]

VOCAB = 1595
"""``speech/tts``'s vocabulary with its defaults: 6 specials, 57 phonemes, 6 x 256 codec ids."""

MODEL = {"d_model": 128, "n_layers": 4, "n_heads": 4, "max_seq_len": 512}
"""The backbone of ``speech/tts-small``."""

PROMPT_FRAMES = 8
"""Frames of voice prompt the shipped model was trained with (0.32 s of codec2-1200)."""

MAX_WORDS = 3
"""The shipped model was trained on digit strings of 1 to this many words."""

TRAINING_PER_VOICE = 600
TRAINING_SEED = 0
"""The reference corpus, ``data.make_corpus(TRAINING_PER_VOICE, seed=TRAINING_SEED, max_len=MAX_WORDS)``: the
evaluation's held-out strings are the ones it never draws, and its first texts train the speaker classifier.
Larger training corpora (``scripts/pretrain.py --n-per-voice``) leave the held-out strings out."""

PRESETS: dict[str, tuple[dict[str, tuple[str, dict[str, Any]]], str]] = {
    "speech/tts-small": (
        {
            "tokenizer": ("speech/tts", {}),
            "backbone": ("core/transformer", {"vocab_size": VOCAB, **MODEL}),
            "head": ("core/categorical", {"d_model": MODEL["d_model"], "vocab_size": VOCAB}),
            "sampler": ("core/multinomial", {}),
            "cache": ("core/dynamic", {}),
        },
        "decoder-only TTS, 1.2M parameters: espeak phonemes + a voice prompt -> codec2-1200 tokens (flatten); "
        "arkit_speech.pretrained() loads the shipped digit-string weights",
    ),
}

DELAY = "tts-digits-delay"
"""The shipped delay-pattern checkpoint: all six codebooks of a step in one call."""
FLATTEN = "tts-digits-words"
"""The shipped flatten-pattern checkpoint (one token per call, each word's phonemes before its audio)."""
DEFAULT = DELAY
"""The shipped checkpoint :func:`pretrained` and ``arkit speech say shipped`` use by default, and whose figures the
eval's targets judge: the most intelligible one and the fastest."""

CHECKPOINTS = Path(__file__).parent / "checkpoints"
"""Where shipped pipelines live: ``CHECKPOINTS / <name>`` is a ``save_pretrained`` folder."""


def pretrained(name: str | None = None) -> Any:
    """The shipped pre-trained pipeline ``name`` (default :data:`DEFAULT`)."""
    import arkit

    name = name or DEFAULT
    folder = CHECKPOINTS / name
    if not (folder / "pipeline.json").is_file():
        known = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "pipeline.json").is_file()) \
            if CHECKPOINTS.is_dir() else []
        raise ConfigError(f"no shipped checkpoint {name!r} (have: {', '.join(known) or 'none'}); "
                          f"train one with plugins/speech/scripts/pretrain.py")
    return arkit.Pipeline.from_pretrained(folder)
