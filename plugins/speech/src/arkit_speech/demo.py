"""``arkit speech demo``: make data, train in bounded steps, speak digit strings to WAV, print the table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
import re
from typing import Any
import warnings

import numpy as np

import arkit
from arkit import ArkitWarning

from . import asr
from .data import make_corpus, speech, training_items
from .espeak import VOICES, check_text
from .evaluation import evaluate
from .outputs import save_spectrograms, write_wav
from .presets import FLATTEN, PROMPT_FRAMES
from .synth import speak, voice_prompt_of

__all__ = ["render_examples", "run_demo"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def render_examples(pipe: arkit.Pipeline, texts: Sequence[str], out_dir: str | Path, *, voices: Sequence[str] = VOICES,
                    guidance_scale: float = 1.0, seed: int = 0,
                    extra: Sequence[tuple[str, arkit.Pipeline]] = ()) -> list[dict[str, Any]]:
    """Speak each text (text ``i`` in voice ``i % len(voices)``); write ``ref-*.wav`` (espeak through codec2),
    ``gen-*.wav`` (the model) and ``spectrograms.png``; return what the recogniser heard in each."""
    out_dir = Path(out_dir)
    tok = pipe.tokenizer
    texts = [check_text(t) for t in texts]
    chosen = [voices[i % len(voices)] for i in range(len(texts))]
    sources = [speech("one two three four five", v) for v in chosen]
    models = [("model", pipe), *extra]
    spoken = {name: speak(p, texts, [voice_prompt_of(a, p.tokenizer, PROMPT_FRAMES) for a in sources],
                          guidance_scale=guidance_scale, seed=seed)  # each model's prompts in its own codebooks
              for name, p in models}
    rows, results = [], []
    for i, (text, voice) in enumerate(zip(texts, chosen)):
        ref = tok.codec.frames_to_audio(tok.codec.audio_to_frames(speech(text, voice)))
        stem = f"{i}-{_slug(voice)}-{_slug(text)}"
        entry: dict[str, Any] = {"text": text, "voice": voice,
                                 "reference": str(write_wav(ref, out_dir / f"ref-{stem}.wav")),
                                 "reference_heard": asr.transcribe(ref)}
        cols = [("espeak + codec2", ref)]
        for name, _ in models:
            audio = spoken[name].audio[i]
            entry[name] = str(write_wav(audio, out_dir / f"gen-{name}-{stem}.wav"))
            entry[f"{name}_heard"] = asr.transcribe(audio)
            cols.append((f"generated ({name})", audio))
        rows.append((f"{text} ({voice})", cols))
        results.append(entry)
    save_spectrograms(rows, out_dir / "spectrograms.png")
    return results


def run_demo(*, steps: int = 300, n_per_voice: int = 150, model: str | None = None, texts: Sequence[str] = (),
             out_dir: str | Path = "speech-demo", guidance_scale: float = 1.0, seed: int = 0,
             by_word: bool = True) -> dict[str, Any]:
    """Train (or load ``model``), speak ``texts`` to WAV, evaluate on a small held-out set; return the results."""
    from .cli import load

    if steps < 1 or n_per_voice < 10:
        raise arkit.ConfigError("--steps must be >= 1 and --n-per-voice >= 10")
    out_dir = Path(out_dir)
    result: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArkitWarning)
        if model is not None:
            pipe = load(model, FLATTEN)
            result["model"] = model
        else:
            samples = make_corpus(n_per_voice, seed=seed)
            pipe = arkit.Pipeline.from_preset("speech/tts-small")
            if by_word:
                pipe = pipe.replace(tokenizer=arkit.create("tokenizer", "speech/tts", by_word=True))
            items = training_items(samples, pipe.tokenizer, seed=seed, prompt_frames=PROMPT_FRAMES, by_word=by_word)
            fit = pipe.fit(items, steps=steps, batch_size=8, seq_len=256, lr=3e-3, warmup_steps=min(100, steps // 5),
                           overflow="truncate", threads=1, progress=False, seed=seed)
            pipe.save_pretrained(out_dir / "pipeline")
            result.update(trained_steps=steps, utterances=len(samples), loss_first=fit.losses[0],
                          loss_last=fit.losses[-1], pipeline=str(out_dir / "pipeline"))
        extra = []
        if model == "shipped":  # the shipped flatten checkpoint, and the delay one (the default) beside it
            from .presets import DELAY, pretrained

            extra = [("delay", pretrained(DELAY))]
        result["examples"] = render_examples(pipe, list(texts), out_dir, guidance_scale=guidance_scale, seed=seed,
                                             extra=extra)
        report = evaluate(pipe, delay=dict(extra).get("delay"), n_per_voice=3, speed_rows=2,
                          guidance_scale=guidance_scale, seed=seed)
    result.update(wer=report["wer"], speaker=report["speaker"], targets=report["targets"],
                  files=[str(out_dir / "spectrograms.png")])
    result["rtf"] = float(np.round(report["speed"]["flatten"]["rtf"], 4))
    return result
