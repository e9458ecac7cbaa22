"""Why the shipped TTS checkpoints are not understood: the figures behind docs/speech.md's diagnosis.

On the evaluation's held-out set (``--n-per-voice`` three-word digit strings per voice, seed 9000),
prints JSON (and writes it to ``--out``, default ``docs/img/speech/diagnosis.json``):

- ``teacher_forced``: for each shipped flatten checkpoint, greedy next-code accuracy (overall and per
  codebook) given the true codes so far, with the right text, no text and another row's text, and
  the WER of the right-text predictions;
- ``corruption``: how many wrong codes each audio tokenizer tolerates: WER of codec2's and
  ``speech/mel-rvq``'s reconstructions when a share of the codes (all codebooks, or mel-rvq's last
  three stages only) is replaced by uniform random values (seed 0);
- ``decoding``: free-running WER and speaker accuracy of the three shipped checkpoints with
  multinomial sampling at temperature 1 (how they were first shipped) and 0.5, greedy decoding (how
  they are shipped now), and (``tts-digits``) guidance 3.

    python plugins/speech/scripts/diagnose.py            # a few minutes on one busy core
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
from arkit_speech import Codec2Tokenizer, pretrained, pretrained_mel_rvq, speak
from arkit_speech.evaluation import _accuracy, _wer, speaker_training, teacher_forced, test_set
from arkit_speech.speaker import SpeakerClassifier


def _corrupt(frames: np.ndarray, share: float, size: int, rng: np.random.Generator,
             codebooks: slice = slice(None)) -> np.ndarray:
    out = frames.copy()
    view = out[:, codebooks]
    hit = rng.random(view.shape) < share
    view[hit] = rng.integers(0, size, int(hit.sum()))
    out[:, codebooks] = view
    return out


_DECODING = (("multinomial, temperature 1", 1.0, ("core/multinomial", {})),
             ("multinomial, temperature 1, guidance 3", 3.0, ("core/multinomial", {})),
             ("multinomial, temperature 0.5", 1.0, ("core/multinomial", {"temperature": 0.5})),
             ("greedy", 1.0, ("core/greedy", {})))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-voice", type=int, default=5)
    parser.add_argument("--out", default="docs/img/speech/diagnosis.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", arkit.ArkitWarning)
    start = time.perf_counter()
    pipes = {name: pretrained(name) for name in ("tts-digits", "tts-digits-words")}
    data = test_set(pipes["tts-digits"].tokenizer, args.n_per_voice)
    report: dict = {"utterances": len(data.texts), "teacher_forced": {}, "corruption": {}, "decoding": {}}
    for name, pipe in pipes.items():
        report["teacher_forced"][name] = {text: teacher_forced(pipe, data, text) for text in ("right", "none", "other")}
    codec, mel = Codec2Tokenizer(), pretrained_mel_rvq()
    for label, tok, books in (("codec2", codec, slice(None)), ("mel-rvq", mel, slice(None)),
                              ("mel-rvq, stages 4-6 only", mel, slice(3, None))):
        frames = [tok.audio_to_frames(r) for r in data.references]
        row = {}
        for share in (0.0, 0.1, 0.25, 0.5):
            rng = np.random.default_rng(0)
            clips = [tok.frames_to_audio(_corrupt(f, share, tok.codebook_size, rng, books)) for f in frames]
            row[str(share)] = _wer(data.texts, clips)
        report["corruption"][label] = row
    clf = SpeakerClassifier().fit(*speaker_training(codec)[:2])  # the eval's classifier
    pipes["tts-digits-delay"] = pretrained("tts-digits-delay")
    for name, pipe in pipes.items():
        rows = {}
        for label, scale, sampler in _DECODING:
            if scale != 1.0 and name != "tts-digits":
                continue
            p = pipe.replace(sampler=arkit.create("sampler", sampler[0], **sampler[1]))
            out = speak(p, data.texts, data.prompts, guidance_scale=scale, seed=0)
            rows[label] = {"wer": _wer(data.texts, out.audio), "speaker": _accuracy(clf.predict(out.audio), data.voices),
                           "mean_seconds": out.seconds / len(data.texts)}
        report["decoding"][name] = rows
    report["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(report, indent=1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
