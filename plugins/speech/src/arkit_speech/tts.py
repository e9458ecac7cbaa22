"""``speech/tts``: phonemes, a voice prompt and codec tokens in one vocabulary (VALL-E style, decoder-only).

A sequence is::

    [voice] prompt codes [text] phonemes [audio] target codes        (bos/eos added by the caller)

- phonemes: espeak-ng IPA characters (:mod:`arkit_speech.espeak`), one id each;
- prompt and target codes: the audio tokenizer's ids (``speech/codec2`` by default, or
  ``speech/mel-rvq`` with ``codec="mel-rvq"``),
  frame-major, shifted by :attr:`TTSTokenizer.audio_offset`;
- an utterance with ``phonemes=""`` has no text: the unconditional twin that
  classifier-free guidance mixes with (the demo drops the text of a share of the
  training items so the model learns both).

:meth:`decode` turns generated ids back into :class:`Audio`: it keeps the codec ids and
skips the rest, so every id sequence a model produces decodes. ``pattern`` records how the pipeline's model lays out
codec tokens (``flatten``: next-token; ``delay`` / ``parallel``: block-wise, see
:mod:`arkit_speech.schedule`): it does not change the ids, it tells :func:`arkit_speech.speak`
how to generate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from arkit import ConfigError, InputError

from .audio import Audio
from .codec2 import Codec2Tokenizer
from .melrvq import MelRVQTokenizer
from .espeak import check_text, phonemize
from .patterns import PATTERNS

__all__ = ["PHONEMES", "TTSTokenizer", "Utterance"]

PHONEMES = " abdefhijklmnoprstuvwxzæçðŋɐɑɒɔəɚɛɜɝɡɪɬɹɾʃʊʌʍʒʔθχᵻˈˌː"
"""The phoneme characters espeak-ng's English voices emit (IPA), plus the word space."""

_SPECIALS = ("pad", "bos", "eos", "voice", "text", "audio")
_CODECS = ("codec2", "mel-rvq")


@dataclass(frozen=True, eq=False)
class Utterance:
    """What :class:`TTSTokenizer` encodes.

    - ``text``: the words (phonemized with espeak-ng unless ``phonemes`` is given);
    - ``phonemes``: IPA characters; ``""`` means no text (the unconditional input);
    - ``voice_prompt``: a short stretch of the target voice, as audio or as codec frames ``[P, K]``;
    - ``audio`` / ``frames``: the target speech (for training), as audio or codec frames ``[T, K]``.
    """

    text: str = ""
    phonemes: str | None = None
    voice_prompt: Audio | np.ndarray | None = None
    audio: Audio | np.ndarray | None = None
    audio_words: tuple[np.ndarray, ...] | None = None
    """The target split by word (codec frames per word of ``text``), for ``by_word`` tokenizers."""


class TTSTokenizer(nn.Module):
    """Phonemes + voice prompt + codec frames <-> ids (see the module docstring for the layout).

    ``codec``: the audio tokenizer, ``"codec2"`` (``speech/codec2`` in mode ``codec_mode`` with
    ``codebook_bits``-bit codebooks, or codebooks along codec2's own parameters with
    ``codec_split="fields"``) or ``"mel-rvq"`` (``speech/mel-rvq`` with the shipped
    codebooks, :func:`~arkit_speech.melrvq.pretrained_mel_rvq`). A module, so that a learned
    codec's codebooks save with the pipeline (codec2 has no tensors: nothing is written)."""

    lossless = False

    def __init__(self, language: str = "en-us", codec_mode: int = 1200, codebook_bits: int = 8,
                 max_prompt_frames: int = 25, phonemes: str = PHONEMES, pattern: str = "flatten",
                 by_word: bool = False, codec: str = "codec2", codec_split: str = "bits") -> None:
        super().__init__()
        if codec not in _CODECS:
            raise ConfigError(f"unknown audio codec {codec!r} for speech/tts; use one of {', '.join(_CODECS)}")
        if len(set(phonemes)) != len(phonemes):
            raise ConfigError("phonemes must not repeat a character")
        if pattern not in PATTERNS:
            raise ConfigError(f"unknown token pattern {pattern!r}; use one of {', '.join(PATTERNS)}")
        self.pattern, self.by_word = pattern, bool(by_word)
        self.language, self.phonemes = language, phonemes
        self.max_prompt_frames = int(max_prompt_frames)
        self.codec_name = codec
        self.codec: Codec2Tokenizer | MelRVQTokenizer
        if codec == "codec2":
            self.codec = Codec2Tokenizer(codec_mode, codebook_bits, codec_split)
        else:
            from .melrvq import pretrained_mel_rvq

            self.codec = pretrained_mel_rvq()
        self._codec2_config = (int(codec_mode), int(codebook_bits), codec_split)
        self.special_tokens: Mapping[str, int] = {name: i for i, name in enumerate(_SPECIALS)}
        self._phoneme_ids = {ch: len(_SPECIALS) + i for i, ch in enumerate(phonemes)}
        self.audio_offset = len(_SPECIALS) + len(phonemes)
        self.vocab_size = self.audio_offset + self.codec.vocab_size
        self.num_codebooks = self.codec.num_codebooks
        self.codebook_size = self.codec.codebook_size
        self.field_sizes: tuple[int, ...] = tuple(getattr(self.codec, "field_sizes", None)
                                                  or (self.codebook_size,) * self.num_codebooks)
        """How many of each codebook's ``codebook_size`` ids carry a value (fewer than all under codec2's
        ``codec_split="fields"``): generation allows only those."""

    @property
    def config(self) -> dict[str, Any]:
        mode, bits, split = self._codec2_config
        config: dict[str, Any] = {"language": self.language, "codec_mode": mode, "codebook_bits": bits,
                                  "max_prompt_frames": self.max_prompt_frames, "phonemes": self.phonemes}
        if self.codec_name != "codec2":
            config["codec"] = self.codec_name
        if split != "bits":
            config["codec_split"] = split
        if self.pattern != "flatten":  # defaults are left out, so checkpoints written before these existed resume
            config["pattern"] = self.pattern
        if self.by_word:
            config["by_word"] = True
        return config

    # -- pieces --------------------------------------------------------------------
    def phoneme_ids(self, phonemes: str) -> list[int]:
        """Ids of IPA characters; unknown characters are named in an :class:`InputError`."""
        unknown = sorted({ch for ch in phonemes if ch not in self._phoneme_ids})
        if unknown:
            raise InputError(f"phoneme(s) {unknown} are outside this tokenizer's inventory {self.phonemes!r}: "
                             f"the text holds sounds of another language; use a tokenizer built with them")
        return [self._phoneme_ids[ch] for ch in phonemes]

    def frames(self, audio: Audio | np.ndarray, *, what: str = "audio") -> np.ndarray:
        """Codec frames ``int64[T, K]`` of audio (encoded) or of frames (checked)."""
        if isinstance(audio, Audio):
            return self.codec.audio_to_frames(audio)
        frames = np.asarray(audio)
        if frames.ndim != 2 or frames.shape[1] != self.num_codebooks or frames.dtype.kind not in "iu":
            raise InputError(f"{what} frames must be integers of shape [T, {self.num_codebooks}], got "
                             f"{frames.dtype} {frames.shape}")
        if frames.size and (frames.min() < 0 or frames.max() >= self.codebook_size):
            raise InputError(f"{what} frame values must lie in [0, {self.codebook_size})")
        return frames.astype(np.int64)

    def audio_ids(self, frames: np.ndarray) -> list[int]:
        """Flat (frame-major) ids of codec frames in this vocabulary."""
        return [self.audio_offset + i for i in self.codec.frames_to_ids(frames)]

    def voice_ids(self, item: Utterance) -> list[int]:
        """``[voice] prompt codes``."""
        ids = [self.special_tokens["voice"]]
        if item.voice_prompt is not None:
            prompt = self.frames(item.voice_prompt, what="voice prompt")
            if len(prompt) > self.max_prompt_frames:
                raise InputError(f"voice prompt has {len(prompt)} frames; at most {self.max_prompt_frames} fit "
                                 f"(about {self.max_prompt_frames / self.codec.frames_per_second:.1f} s): cut it")
            ids += self.audio_ids(prompt)
        return ids

    def word_ids(self, phonemes: str) -> list[int]:
        """``[text] phonemes [audio]``."""
        return [self.special_tokens["text"], *self.phoneme_ids(phonemes), self.special_tokens["audio"]]

    def words(self, item: Utterance) -> list[str]:
        """The phonemes of each word of ``item`` (by_word layout); ``[""]`` for the text-free input."""
        if item.phonemes is not None:
            return [item.phonemes] if item.phonemes == "" else item.phonemes.split(" ")
        return [phonemize(w, self.language) for w in check_text(item.text).split()]

    def text_ids(self, item: Utterance) -> list[int]:
        """What generation is prompted with: ``[voice] prompt [text] phonemes [audio]`` (with ``by_word``: only the
        first word's phonemes; :func:`arkit_speech.speak` feeds the next word when the model ends one)."""
        phon = item.phonemes if item.phonemes is not None else phonemize(item.text, self.language)
        if self.by_word:
            phon = self.words(item)[0]
        return self.voice_ids(item) + self.word_ids(phon)

    # -- the Tokenizer protocol -------------------------------------------------------
    def encode(self, item: Any) -> list[int]:
        """An :class:`Utterance` (or a str, spoken with no voice prompt) to ids; target codes follow when given."""
        if isinstance(item, str):
            item = Utterance(text=item)
        if not isinstance(item, Utterance):
            raise InputError(f"speech/tts encodes arkit_speech.Utterance or str, got {type(item).__name__}")
        if item.audio_words is not None:
            words = self.words(item)
            if words == [""]:
                words = [""] * len(item.audio_words)
            if len(words) != len(item.audio_words):
                raise InputError(f"{len(item.audio_words)} word audio segments for {len(words)} words of {item.text!r}")
            ids = self.voice_ids(item)
            for phon, frames in zip(words, item.audio_words):
                ids += self.word_ids(phon) + self.audio_ids(self.frames(frames))
            return ids
        ids = self.text_ids(item)
        if item.audio is not None:
            ids += self.audio_ids(self.frames(item.audio))
        return ids

    def target_ids(self, ids: Sequence[int]) -> list[int]:
        """The codec ids (``0 <= id < codec.vocab_size``) among ``ids``, in order; other ids are skipped."""
        return [i - self.audio_offset for i in ids if self.audio_offset <= i < self.vocab_size]

    def decode(self, ids: Sequence[int]) -> Audio:
        """Generated ids (the prompt excluded) to 8 kHz audio: their codec ids, whole frames only (a trailing
        partial frame is dropped); special and phoneme ids are skipped; never raises on ids in range."""
        return self.codec.decode(self.target_ids(ids))
