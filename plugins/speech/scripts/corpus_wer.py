"""WER of a speech pipeline on training-corpus utterances: the check that chooses between checkpoints.

The eval's held-out set (40 rows, 120 words) is the measure, and choosing on it would fit
the choice to it. This script scores a pipeline on utterances of the training corpus
instead (their texts were trained on; each row's voice prompt is cut from another corpus
utterance of its voice, at a seeded random place), through the eval's recogniser. It read
0.664 / 0.619 for the byte and field splits after 2,000 steps, 0.455 for the 128-wide field
model at 12,000 steps and 0.392 for the shipped 3.9M-parameter one (400 rows, seed 123).
Prints one JSON line: WER, its binomial standard error, substitutions, deletions and
insertions, and the mean generated and reference durations.

    python plugins/speech/scripts/corpus_wer.py shipped
    python plugins/speech/scripts/corpus_wer.py runs/tts-digits-delay-big-12000 --corpus runs/speech-delay-big/corpus-3000-0-3-words-heldout-excluded.npz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import time
import warnings

import numpy as np
import torch

import arkit
from arkit_speech import asr, data
from arkit_speech.cli import load
from arkit_speech.codec2 import Codec2Tokenizer
from arkit_speech.presets import PROMPT_FRAMES
from arkit_speech.synth import speak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a saved pipeline folder, or 'shipped' (the default checkpoint)")
    parser.add_argument("--corpus", default="runs/speech-delay-v3/corpus-3000-0-3-words-heldout-excluded.npz",
                        help="a corpus cached by scripts/pretrain.py (codec2 frames as bytes)")
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--seed", type=int, default=123)
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", arkit.ArkitWarning)
    if not Path(args.corpus).is_file():
        raise SystemExit(f"no corpus at {args.corpus}: scripts/pretrain.py --n-per-voice 3000 caches one in its "
                         f"--out-dir (corpus-3000-0-3-words-heldout-excluded.npz); give its path with --corpus")
    pipe = load(args.model)
    samples = data.load_corpus(args.corpus)
    if not 1 <= args.rows <= len(samples):
        raise SystemExit(f"--rows must be in [1, {len(samples)}]")
    rng = np.random.default_rng(args.seed)
    rows = rng.choice(len(samples), args.rows, replace=False)
    sources: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        if len(s.frames) >= PROMPT_FRAMES + 4:
            sources.setdefault(s.voice, []).append(i)
    stored, codec = Codec2Tokenizer(), pipe.tokenizer.codec
    texts, prompts = [], []
    for i in rows:
        src = samples[rng.choice(sources[samples[i].voice])].frames
        start = rng.integers(0, len(src) - PROMPT_FRAMES + 1)
        texts.append(samples[i].text)
        prompts.append(codec.frames_from(src[start:start + PROMPT_FRAMES], stored))
    began = time.perf_counter()
    out = speak(pipe, texts, prompts, seed=0)
    heard = [asr.transcribe(a) for a in out.audio]
    import jiwer

    counts = jiwer.process_words(texts, [h.strip() for h in heard])  # what asr.wer counts
    wer = asr.wer(texts, heard)
    words = sum(len(t.split()) for t in texts)
    print(json.dumps({"model": args.model, "rows": args.rows, "words": words, "wer": round(wer, 4),
                      "standard_error": round(float(np.sqrt(wer * max(1 - wer, 0) / words)), 4),
                      "substitutions": counts.substitutions, "deletions": counts.deletions,
                      "insertions": counts.insertions,
                      "generated_s": round(float(np.mean([a.duration for a in out.audio])), 3),
                      "reference_s": round(float(np.mean([len(samples[i].frames) for i in rows]) / 25), 3),
                      "elapsed_s": round(time.perf_counter() - began, 1)}))


if __name__ == "__main__":
    main()
