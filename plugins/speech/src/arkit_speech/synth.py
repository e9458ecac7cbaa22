"""Speak text with a trained pipeline: prompts, patterns, guidance, and the audio that comes out.

:func:`speak` encodes each text with its voice prompt, generates codec tokens with the
pipeline (flatten: one token per model call, under :class:`CodebookConstraint`; delay or
parallel: one block of K tokens per call through :func:`arkit.generate_blocks` and
:class:`CodecSchedule`), and decodes whole frames to 8 kHz audio. Classifier-free
guidance mixes each row with its text-free twin (the same voice prompt, no phonemes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

import arkit
from arkit import ConfigError, InputError

from .audio import Audio
from .constraint import CodebookConstraint
from .patterns import PATTERNS
from .schedule import CodecSchedule
from .tts import TTSTokenizer, Utterance

__all__ = ["Speech", "speak"]


@dataclass(frozen=True, eq=False)
class Speech:
    """What :func:`speak` returns: per row its audio and codec frames, plus the call's cost."""

    audio: list[Audio]
    frames: list[np.ndarray]
    calls: int
    """Model calls of the whole batch, prefill included."""
    elapsed_s: float
    speculative: Any = None
    """:class:`arkit.SpeculativeStats` when the pipeline has a drafter (flatten pattern)."""
    cpu_s: float = 0.0
    """CPU seconds this process spent on the batch (``time.process_time``): on a shared machine, the cost of the
    work itself, where ``elapsed_s`` also counts the time other processes held the cores."""

    @property
    def seconds(self) -> float:
        """Total seconds of audio produced."""
        return float(sum(a.duration for a in self.audio))


def speak(pipe: arkit.Pipeline, texts: Sequence[str], voice_prompts: Sequence[np.ndarray | Audio | None], *,
          pattern: str | None = None, guidance_scale: float = 1.0, seed: int = 0, max_frames: int = 60,
          phonemes: Sequence[str] | None = None) -> Speech:
    """Generate speech for each text in the voice of its prompt (codec frames ``[P, K]`` or audio, or ``None``).

    ``pattern``: ``None`` uses the one the pipeline was trained with (its tokenizer's
    ``pattern``). ``phonemes`` overrides the phonemizer (``""`` gives the text-free input).
    """
    tok = pipe.tokenizer
    if not isinstance(tok, TTSTokenizer):
        raise ConfigError(f"speak needs a pipeline whose tokenizer is speech/tts, got {type(tok).__name__}")
    pattern = tok.pattern if pattern is None else pattern
    if pattern not in PATTERNS:
        raise ConfigError(f"unknown token pattern {pattern!r}; use one of {', '.join(PATTERNS)}")
    if len(texts) != len(voice_prompts) or not texts:
        raise InputError(f"give one voice prompt (or None) per text: got {len(texts)} texts, "
                         f"{len(voice_prompts)} prompts")
    phon = list(phonemes) if phonemes is not None else [None] * len(texts)
    prompts = [pipe.encode(Utterance(text=t, phonemes=p, voice_prompt=v))
               for t, p, v in zip(texts, phon, voice_prompts)]
    negative = None
    if guidance_scale != 1.0:
        negative = [pipe.encode(Utterance(phonemes="", voice_prompt=v)) for v in voice_prompts]
    context = pipe.backbone.max_seq_len
    lengths = [len(p) for p in prompts]
    if tok.by_word:  # every word's [text] phonemes [audio] joins the context as the row goes on
        lengths = [len(pipe.encode(Utterance(phonemes="", voice_prompt=v))) - 2 +
                   sum(len(tok.word_ids(w)) for w in tok.words(Utterance(text=t, phonemes=p)))
                   for t, p, v in zip(texts, phon, voice_prompts)]
    longest = max(lengths)
    room = (context - longest - 2) // tok.num_codebooks - (tok.num_codebooks if pattern == "delay" else 1)
    if room < 1:
        raise InputError(f"the prompt has {longest} tokens, which leaves no room for audio in the model's context "
                         f"of {context}: shorten the text or the voice prompt")
    max_frames = min(max_frames, room)
    start, start_cpu = time.perf_counter(), time.process_time()
    if tok.by_word:
        if pattern != "flatten":
            raise ConfigError("a by_word pipeline speaks with the flatten pattern")
        rows = [_speak_by_word(pipe, Utterance(text=t, phonemes=p, voice_prompt=v), max_frames, seed + r,
                               guidance_scale) for r, (t, p, v) in enumerate(zip(texts, phon, voice_prompts))]
        frames = [f for f, _, _ in rows]
        calls = sum(c for _, c, _ in rows)
        drafted = [d for _, _, d in rows if d is not None]
        stats = SimpleNamespace(drafted=sum(d[0] for d in drafted), accepted=sum(d[1] for d in drafted)) \
            if drafted else None
    elif pattern == "flatten":
        constraint = CodebookConstraint.for_tokenizer(tok, max_frames=max_frames)
        out = pipe.generate(prompt_ids=prompts, constraint=constraint,
                            max_new_tokens=max_frames * tok.num_codebooks + 1, seed=seed,
                            guidance_scale=guidance_scale, negative_prompt_ids=negative)
        frames = [tok.codec.ids_to_frames(tok.target_ids(seq)) for seq in out.sequences]
        calls, stats = out.num_steps, out.speculative
    else:
        schedule = CodecSchedule(tok, pattern, max_frames=max_frames)
        blocks = arkit.generate_blocks(pipe, schedule, prompt_ids=prompts, seed=seed, guidance_scale=guidance_scale,
                                       negative_prompt_ids=negative, max_blocks=max_frames + tok.num_codebooks + 1)
        frames = [schedule.frames(rows) for rows in blocks.blocks]
        calls, stats = blocks.calls, None
    audio = [tok.codec.frames_to_audio(f) for f in frames]
    return Speech(audio=audio, frames=frames, calls=calls, elapsed_s=time.perf_counter() - start, speculative=stats,
                  cpu_s=time.process_time() - start_cpu)


def _speak_by_word(pipe: arkit.Pipeline, item: Utterance, max_frames: int, seed: int,
                   guidance_scale: float) -> tuple[np.ndarray, int, tuple[int, int] | None]:
    """One row, word by word: prompt with a word, generate its frames until the model ends the word (``[text]``,
    or ``eos`` after the last word), then append the next word. Returns the frames, the model calls and, with a
    drafter, the drafted and accepted token counts."""
    tok = pipe.tokenizer
    s = tok.special_tokens
    words = tok.words(item)
    ids = pipe.encode(Utterance(phonemes="", voice_prompt=item.voice_prompt))[:-2]  # [bos] [voice] prompt
    codes: list[int] = []
    calls = drafted = accepted = 0
    speculative = False
    budget = max_frames
    for i, phon in enumerate(words):
        last = i == len(words) - 1
        negative = [ids + tok.word_ids("")] if guidance_scale != 1.0 else None  # this word's text left out
        ids = ids + tok.word_ids(phon)
        end = s["eos"] if last else s["text"]
        per_word = max(1, budget - (len(words) - 1 - i))
        constraint = CodebookConstraint.for_tokenizer(tok, max_frames=per_word)
        constraint = CodebookConstraint(**{**constraint.config, "eos": end})
        out = pipe.generate(prompt_ids=[ids], constraint=constraint,
                            max_new_tokens=per_word * tok.num_codebooks + 1, seed=seed + i, eos_token_ids=[end],
                            guidance_scale=guidance_scale, negative_prompt_ids=negative)
        calls += out.num_steps
        if out.speculative is not None:
            speculative = True
            drafted, accepted = drafted + out.speculative.drafted, accepted + out.speculative.accepted
        new = [t for t in out.sequences[0] if t != end]
        codes += tok.target_ids(new)
        budget -= len(new) // tok.num_codebooks
        ids = ids + new
        if budget <= 0:
            break
    return tok.codec.ids_to_frames(codes), calls, (drafted, accepted) if speculative else None


def voice_prompt_of(audio: Audio, tokenizer: TTSTokenizer, frames: int) -> np.ndarray:
    """The first ``frames`` codec frames of speech in ``audio`` (leading silence skipped): a voice prompt."""
    all_frames = tokenizer.codec.audio_to_frames(audio)
    if len(all_frames) < frames:
        raise InputError(f"the voice prompt audio holds {len(all_frames)} frames "
                         f"({len(all_frames) / tokenizer.codec.frames_per_second:.2f} s); give at least {frames}")
    pcm = np.abs(tokenizer.codec.frames_to_audio(all_frames).samples)
    spf = tokenizer.codec.samples_per_frame
    energy = np.array([pcm[i * spf:(i + 1) * spf].mean() for i in range(len(all_frames))])
    loud = np.nonzero(energy > 0.1 * energy.max())[0]
    first = int(min(loud[0], len(all_frames) - frames)) if len(loud) else 0
    return all_frames[first:first + frames]


