"""Speak the evaluation's clips once with espeak-ng and store them with the package (``arkit_speech/eval_audio``).

espeak-ng's audio for a text changes with what the process synthesised before (and, for
``en-us+f3``, between fresh processes), so ``arkit speech eval`` reads these stored clips
instead of speaking them on every run (see ``arkit_speech.stored``). This script makes them,
in one fresh process, in a fixed order:

1. the default held-out set (``evaluation.held_out_rows()``: 10 rows per voice, seed 9000,
   none of the shipped model's training texts): per row its reference, then the other
   utterance its voice prompt is cut from;
2. 25 training utterances per voice (``evaluation.speaker_pairs()``: the first 25 training
   texts per voice, training seed 0), the clips the recogniser's front end was chosen on;
3. the speaker classifier's training clips, the first 200 training texts per voice
   (``speaker_pairs(SPEAKER_CODES_PER_VOICE)``), stored as codec2-1200 frames.

It writes ``heldout.npz`` (int16 at 8 kHz) and ``heldout.json`` (seeds, sizes, the espeak-ng
build, per clip its text, voice and word start times, the npz's SHA-256), and
``speaker_codes.npz`` / ``.json`` (3.). Running it again gives slightly different audio
(that is the point of storing it): the eval's figures move, so say so in the changelog when
you replace the stored files. ``--only speaker-codes`` remakes the speaker classifier's clips
alone and leaves the held-out audio as it is.

    python plugins/speech/scripts/store_eval_audio.py
    python plugins/speech/scripts/store_eval_audio.py --only speaker-codes
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from importlib import metadata
import json
from pathlib import Path

from arkit_speech.codec2 import Codec2Tokenizer
from arkit_speech.data import speech_words
from arkit_speech.evaluation import (HELD_OUT_PER_VOICE, HELD_OUT_SEED, SPEAKER_CODES_PER_VOICE, SPEAKER_PER_VOICE,
                                     held_out_rows, speaker_pairs)
from arkit_speech.espeak import VOICES
from arkit_speech.presets import MAX_WORDS, TRAINING_PER_VOICE, TRAINING_SEED
from arkit_speech.stored import FOLDER, RATE, Clip, CodedClip, save_speaker_codes, save_stored


def _spoken(text: str, voice: str) -> Clip:
    audio, times = speech_words(text, voice, RATE)
    return Clip(text, voice, audio, times)


def _made() -> dict:
    return {"script": "plugins/speech/scripts/store_eval_audio.py",
            "utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "espeakng_loader": metadata.version("espeakng-loader"), "voices": list(VOICES)}


def _speaker_codes(out: str) -> Path:
    """Speak the speaker classifier's training texts and store them as codec2-1200 frames."""
    codec = Codec2Tokenizer()
    clips = [CodedClip(text, voice, codec.audio_to_frames(speech_words(text, voice, RATE)[0]))
             for text, voice in speaker_pairs(SPEAKER_CODES_PER_VOICE)]
    made = {**_made(), "speaker_codes": {
        "training_seed": TRAINING_SEED, "training_per_voice": TRAINING_PER_VOICE, "per_voice": SPEAKER_CODES_PER_VOICE,
        "texts": "evaluation.speaker_pairs(per_voice): the first per_voice of digit_texts(training_per_voice, "
                 "seed=training_seed * 1000 + voice index, max_len=words), spoken then encoded by codec2-1200"}}
    return save_speaker_codes(clips, made, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(FOLDER), help=f"folder to write (default: the package's, {FOLDER})")
    parser.add_argument("--only", choices=("speaker-codes",), help="remake only these files")
    args = parser.parse_args()
    codes = _speaker_codes(args.out)
    if args.only == "speaker-codes":
        print(json.dumps({"wrote": [str(codes), str(codes.with_suffix(".json"))], "npz_bytes": codes.stat().st_size}))
        return
    rows = held_out_rows()
    references, sources = [], []
    for text, other, voice in rows:  # the order test_set used to speak them in
        references.append(_spoken(text, voice))
        sources.append(_spoken(other, voice))
    speaker = [_spoken(text, voice) for text, voice in speaker_pairs()]
    made = {
        **_made(),
        "held_out": {"seed": HELD_OUT_SEED, "n_per_voice": HELD_OUT_PER_VOICE, "words": MAX_WORDS,
                     "rows": "evaluation.held_out_rows(): digit_texts(20 * n_per_voice, seed=seed + voice index, "
                             "min_len=words, max_len=words), none of the training texts, distinct, paired"},
        "speaker": {"training_seed": TRAINING_SEED, "training_per_voice": TRAINING_PER_VOICE,
                    "per_voice": SPEAKER_PER_VOICE,
                    "texts": "evaluation.speaker_pairs(): the first per_voice of digit_texts(training_per_voice, "
                             "seed=training_seed * 1000 + voice index, max_len=words)"},
    }
    npz = save_stored({"reference": references, "prompt_source": sources, "speaker": speaker}, made, args.out)
    seconds = sum(len(c.audio.samples) for c in [*references, *sources, *speaker]) / RATE
    print(json.dumps({"wrote": [str(npz), str(npz.with_suffix(".json"))], "clips": len(references) + len(sources)
                      + len(speaker), "audio_s": round(seconds, 1), "npz_bytes": npz.stat().st_size}, indent=1))


if __name__ == "__main__":
    main()
