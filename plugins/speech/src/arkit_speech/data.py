"""The demo's data, made offline: digit strings spoken by espeak-ng in several voices, as codec2 frames.

:func:`digit_texts` draws seeded digit strings ("four two seven"); :func:`make_corpus`
speaks each in a voice, brings it to 8 kHz and encodes it with codec2. The corpus is a
list of :class:`Sample` (text, voice, frames) and is cached as one ``.npz`` file, since
synthesis and encoding cost about 10 ms per utterance.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
import json
from pathlib import Path

import numpy as np

from .audio import Audio, resample
from .codec2 import Codec2Tokenizer
from .espeak import SAMPLE_RATE, VOICES, synthesize_words
from .tts import TTSTokenizer, Utterance

__all__ = ["DIGITS", "Sample", "digit_texts", "frame_starts", "load_corpus", "make_corpus", "save_corpus", "says_any",
           "speech", "speech_words", "training_items", "voice_prompt", "word_starts"]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh")
"""The words of the digit task (the recogniser's grammar has the same eleven)."""


@dataclass(frozen=True, eq=False)
class Sample:
    """One utterance of the corpus: its text, voice and codec frames ``int64[T, K]``."""

    text: str
    voice: str
    frames: np.ndarray
    word_starts: tuple[int, ...] = ()
    """The frame at which each word starts (espeak's word events), the first at 0."""

    def word_frames(self) -> list[np.ndarray]:
        """The frames split at the word starts: one array per word."""
        bounds = [*self.word_starts[1:], len(self.frames)]
        return [self.frames[a:b] for a, b in zip(self.word_starts, bounds)]


def digit_texts(n: int, *, seed: int, min_len: int = 1, max_len: int = 4) -> list[str]:
    """``n`` seeded digit strings of ``min_len`` to ``max_len`` words."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    return [" ".join(DIGITS[i] for i in rng.integers(0, len(DIGITS), size=k)) for k in lengths]


def speech(text: str, voice: str, rate: int = 8000) -> Audio:
    """espeak-ng's rendering of ``text`` in ``voice`` at ``rate`` Hz."""
    return speech_words(text, voice, rate)[0]


def speech_words(text: str, voice: str, rate: int = 8000) -> tuple[Audio, tuple[float, ...]]:
    """Like :func:`speech`, plus the time (seconds) at which each word starts in that very audio (espeak's word
    events of the same call)."""
    pcm, starts = synthesize_words(text, voice)
    return resample(Audio.from_int16(pcm, SAMPLE_RATE), rate), tuple(starts)


def word_starts(text: str, voice: str, frames: int, frames_per_second: float) -> tuple[int, ...]:
    """The codec frame at which each word of ``text`` starts when ``voice`` says it (distinct, increasing, in range)."""
    _, starts = synthesize_words(text, voice)
    return frame_starts(starts, len(text.split()), frames, frames_per_second)


def frame_starts(starts: Sequence[float], n: int, frames: int, frames_per_second: float) -> tuple[int, ...]:
    """The codec frame at which each of ``n`` words starts, from their start times in seconds (``starts``, espeak's
    word events) in a clip of ``frames`` frames: distinct, increasing, in range."""
    if len(starts) != n:  # espeak reports one word event per word; fall back to an even split if it did not
        starts = [i * frames / (n * frames_per_second) for i in range(n)]
    out: list[int] = []
    for i, s in enumerate(starts):
        f = 0 if i == 0 else int(round(s * frames_per_second))
        f = min(max(f, out[-1] + 1 if out else 0), frames - (n - i))
        out.append(f)
    return tuple(out)


def says_any(text: str, strings: Collection[str]) -> bool:
    """Whether ``text`` says one of ``strings`` as a run of whole words (``"one two three four"`` says
    ``"two three"``, not ``"tw"``)."""
    padded = f" {text} "
    return any(f" {s} " in padded for s in strings)


def make_corpus(n_per_voice: int, *, seed: int, voices: tuple[str, ...] = VOICES, codec: Codec2Tokenizer | None = None,
                max_len: int = 4, min_len: int = 1, exclude: Collection[str] = ()) -> list[Sample]:
    """Speak ``n_per_voice`` seeded digit strings of ``min_len`` to ``max_len`` words in each voice and encode them
    with ``codec`` (codec2-1200).

    Strings that say one of ``exclude`` (an evaluation's held-out texts) as a run of whole words are drawn but left
    out, so a voice may have fewer: a longer training string never contains a held-out one."""
    codec = codec or Codec2Tokenizer()
    out = []
    left_out = set(exclude)
    for v, voice in enumerate(voices):
        for text in digit_texts(n_per_voice, seed=seed * 1000 + v, min_len=min_len, max_len=max_len):
            if says_any(text, left_out):
                continue
            frames = codec.audio_to_frames(speech(text, voice, codec.rate))
            out.append(Sample(text, voice, frames, word_starts(text, voice, len(frames), codec.frames_per_second)))
    return out


def save_corpus(samples: list[Sample], path: str | Path) -> None:
    """Write ``samples`` to one ``.npz`` file (written to a temporary name, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(s.frames) for s in samples])
    meta = json.dumps([[s.text, s.voice, list(s.word_starts)] for s in samples])
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, frames=np.concatenate([s.frames for s in samples]), lengths=lengths,
                        meta=np.array(meta))
    tmp.replace(path)


def load_corpus(path: str | Path) -> list[Sample]:
    """Read a corpus written by :func:`save_corpus`."""
    with np.load(path) as z:
        frames, lengths, meta = z["frames"], z["lengths"], json.loads(str(z["meta"]))
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return [Sample(m[0], m[1], frames[a:b], tuple(m[2]) if len(m) > 2 else ())
            for m, a, b in zip(meta, bounds[:-1], bounds[1:])]


def voice_prompt(samples: list[Sample], voice: str, frames: int, rng: np.random.Generator,
                 exclude: Sample | None = None) -> np.ndarray:
    """``frames`` codec frames cut at random from another utterance of ``voice`` (the VALL-E acoustic prompt)."""
    pool = [s for s in samples if s.voice == voice and s is not exclude and len(s.frames) >= frames]
    if not pool:
        raise ValueError(f"no utterance of {voice!r} has {frames} frames")
    s = pool[int(rng.integers(len(pool)))]
    start = int(rng.integers(0, len(s.frames) - frames + 1))
    return s.frames[start:start + frames]


def training_items(samples: list[Sample], tokenizer: TTSTokenizer, *, seed: int, prompt_frames: int,
                   text_dropout: float = 0.1, by_word: bool = False) -> list[Utterance]:
    """Utterances for ``Pipeline.fit``: each sample with a voice prompt from another utterance of its voice.

    A ``text_dropout`` share of the items has no phonemes, so the model also learns the
    unconditional distribution that classifier-free guidance needs. ``by_word`` gives each
    item its audio split at the word starts (``Utterance.audio_words``), for a tokenizer that
    interleaves words and their audio (``TTSTokenizer(by_word=True)``); it needs a corpus
    made with word starts.
    """
    from .espeak import phonemize

    rng = np.random.default_rng(seed)
    cache: dict[str, str] = {}
    items = []
    for s in samples:
        if s.text not in cache:
            cache[s.text] = phonemize(s.text, tokenizer.language)
        drop = rng.random() < text_dropout
        prompt = voice_prompt(samples, s.voice, prompt_frames, rng, exclude=s)
        if by_word:
            if not s.word_starts:
                raise ValueError("by_word items need a corpus with word starts: make it again with make_corpus")
            items.append(Utterance(text=s.text, phonemes="" if drop else None, voice_prompt=prompt,
                                   audio_words=tuple(s.word_frames())))
            continue
        items.append(Utterance(text=s.text, phonemes="" if drop else cache[s.text], voice_prompt=prompt,
                               audio=s.frames))
    return items

