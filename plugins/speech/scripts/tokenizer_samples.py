"""Listen to the audio tokenizers: WAV files and spectrograms of codec2's and ``speech/mel-rvq``'s reconstructions.

For three held-out digit strings (seed 9000, voices en-us, en and en-us+f3), writes to
``--out`` (default ``docs/img/speech``): ``tok-<i>-<voice>-<text>-{espeak,codec2,mel-rvq}.wav``,
``tokenizers.png`` (log spectrograms side by side), and prints each clip's recogniser
transcript and log-mel distance to the reference as JSON.

    python plugins/speech/scripts/tokenizer_samples.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import warnings

import torch

import arkit
from arkit_speech import Codec2Tokenizer, asr, log_mel_distance, pretrained_mel_rvq
from arkit_speech.data import digit_texts, speech
from arkit_speech.outputs import save_spectrograms, write_wav


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/img/speech")
    args = parser.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    codec, mel = Codec2Tokenizer(), pretrained_mel_rvq()
    rows, report = [], []
    for i, voice in enumerate(("en-us", "en", "en-us+f3")):
        text = digit_texts(1, seed=9000 + i, min_len=3, max_len=3)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", arkit.ArkitWarning)
            reference = speech(text, voice)
        clips = {"espeak": reference, "codec2": codec.frames_to_audio(codec.audio_to_frames(reference)),
                 "mel-rvq": mel.decode(mel.encode(reference))}
        stem = f"tok-{i}-{voice.replace('+', '-')}-{text.replace(' ', '-')}"
        for name, clip in clips.items():
            write_wav(clip, out / f"{stem}-{name}.wav")
            report.append({"text": text, "voice": voice, "tokenizer": name, "heard": asr.transcribe(clip),
                           "mel_db": log_mel_distance(reference, clip, mel)})
        rows.append((f"{text} ({voice})", list(clips.items())))
    save_spectrograms(rows, out / "tokenizers.png")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
