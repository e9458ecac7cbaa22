"""Fit ``speech/mel-rvq``'s codebooks on espeak-ng digit strings and ship them with the plugin.

Data (made here, seeded): the first ``--per-voice`` (default 300) of the shipped TTS
checkpoints' training texts per voice (``data.digit_texts(TRAINING_PER_VOICE,
seed=TRAINING_SEED * 1000 + v, max_len=MAX_WORDS)``, so the evaluation's held-out strings stay
unseen), in the four voices of ``arkit_speech.espeak.VOICES``, spoken by espeak-ng and
resampled to 8 kHz. The tokenizer's defaults: 32 mel bands, 256-point STFT every 10 ms,
4 mel frames per token frame (40 ms, 25 per second), 6 codebooks of 256 entries, k-means
(scikit-learn, one thread, seed 0, 30 iterations per stage).

    python plugins/speech/scripts/fit_mel_rvq.py            # about 2 minutes on one idle core

Writes ``plugins/speech/src/arkit_speech/checkpoints/mel-rvq/`` (``config.json``,
``codebooks.safetensors`` in float16, ``FIT.json`` with the data description and the fit's
log-mel error after each stage), atomically.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import torch

import arkit
from arkit_speech.data import digit_texts, speech
from arkit_speech.espeak import VOICES
from arkit_speech.melrvq import SHIPPED, MelRVQTokenizer
from arkit_speech.presets import MAX_WORDS, TRAINING_PER_VOICE, TRAINING_SEED


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-voice", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", arkit.ArkitWarning)
        clips = [speech(text, voice) for v, voice in enumerate(VOICES)
                 for text in digit_texts(TRAINING_PER_VOICE, seed=TRAINING_SEED * 1000 + v,
                                         max_len=MAX_WORDS)[: args.per_voice]]
    tokenizer = MelRVQTokenizer(seed=args.seed)
    fit = tokenizer.fit(clips)
    tokenizer.save(SHIPPED)
    record = {"script": "plugins/speech/scripts/fit_mel_rvq.py", "seed": args.seed,
              "data": f"espeak-ng digit strings of 1-{MAX_WORDS} words, the first {args.per_voice} training texts per "
                      f"voice (digit_texts({TRAINING_PER_VOICE}, seed={TRAINING_SEED} * 1000 + voice index)) in "
                      f"{list(VOICES)}, 8 kHz",
              "clips": len(clips), "frames": fit.frames, "rmse_db_per_stage": list(fit.rmse_db),
              "usage_per_stage": list(fit.usage), "seconds": round(time.perf_counter() - start, 1)}
    (SHIPPED / "FIT.json").write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
