"""``arkit speech demo | eval | say``: the plugin's command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import warnings

from arkit import ArkitWarning, ConfigError, InputError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="speech_command", metavar="{demo,eval,say}")
    demo = sub.add_parser("demo", help="synthesise data, train in bounded steps, speak digit strings to WAV, "
                                       "print the table")
    demo.add_argument("--steps", type=int, default=300, help="training steps (default 300; the shipped model: 2000)")
    demo.add_argument("--n-per-voice", type=int, default=150, help="training utterances per voice (default 150)")
    demo.add_argument("--model", help="skip training and use this saved pipeline ('shipped': the plugin's own)")
    demo.add_argument("--texts", nargs="+", default=["four two seven", "one oh nine", "eight three five"],
                      help="digit strings to speak")
    demo.add_argument("--out", default="speech-demo", help="folder for the pipeline, WAV files and spectrograms.png")
    demo.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (1: none)")
    demo.add_argument("--whole-text", action="store_true",
                      help="train on whole utterances instead of interleaving each word with its audio")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    ev = sub.add_parser("eval", help="WER (pocketsphinx digit grammar) next to the codec floor and ceilings, speaker "
                                     "accuracy, real-time factor; the issue's targets")
    ev.add_argument("--model", default="shipped",
                    help="a saved flatten-pattern pipeline folder (default 'shipped': tts-digits-words)")
    ev.add_argument("--delay", default="shipped",
                    help="a delay-pattern pipeline, the one the targets judge ('shipped' default: tts-digits-delay; "
                         "'none' to skip, and the targets judge --model)")
    ev.add_argument("--also", nargs="*", default=None,
                    help="more pipelines to score (WER, voice); default: the other shipped flatten checkpoint")
    ev.add_argument("--n-per-voice", type=int, default=10, help="held-out utterances per voice (default 10)")
    ev.add_argument("--speed-rows", type=int, default=4, help="utterances timed at batch 1 (default 4)")
    ev.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance scale (1: none)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    say = sub.add_parser("say", help="speak a digit string with a saved pipeline and write a WAV file")
    say.add_argument("model", help="a saved pipeline folder ('shipped': the plugin's default checkpoint, "
                                   "tts-digits-delay; with --pattern flatten, tts-digits-words)")
    say.add_argument("text", help='what to say, e.g. "four two seven"')
    say.add_argument("--voice", default="en-us", help="the voice to imitate (its prompt is made with espeak-ng)")
    say.add_argument("--prompt-wav", help="a WAV file of the voice to imitate instead (resampled to 8 kHz)")
    say.add_argument("--out", default="speech.wav", help="the WAV file to write (default speech.wav)")
    say.add_argument("--pattern", choices=("flatten", "delay", "parallel"), help="default: the pipeline's own")
    say.add_argument("--guidance", type=float, default=1.0)
    say.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=ArkitWarning, message=r".*resampled to 8000 Hz")
    command = getattr(args, "speech_command", None)
    if command == "demo":
        from .demo import run_demo

        result = run_demo(steps=args.steps, n_per_voice=args.n_per_voice, model=args.model, texts=args.texts,
                          out_dir=args.out, guidance_scale=args.guidance, seed=args.seed, by_word=not args.whole_text)
        print(json.dumps(result, indent=1) if args.json else _table(result))
        return 0
    if command == "eval":
        return _eval(args)
    if command == "say":
        return _say(args)
    print("usage: arkit speech {demo,eval,say} [--help]", file=sys.stderr)
    return 2


def load(model: str, name: str | None = None):  # type: ignore[no-untyped-def]
    """A saved pipeline folder, or ``"shipped"``: the plugin's checkpoint ``name`` (default: the best one)."""
    import arkit

    from .presets import DEFAULT, pretrained

    name = name or DEFAULT
    if model == "shipped":
        return pretrained(name)
    if not (Path(model) / "pipeline.json").is_file():
        raise ConfigError(f"{model!r} is not a saved pipeline (no pipeline.json): give a folder written by "
                          f"save_pretrained, or 'shipped'")
    return arkit.Pipeline.from_pretrained(model)


def _eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate

    if args.n_per_voice < 2 or args.speed_rows < 1:
        raise ConfigError("--n-per-voice must be >= 2 and --speed-rows >= 1")
    from .presets import CHECKPOINTS, DELAY, FLATTEN

    pipe = load(args.model, FLATTEN)
    delay = None if args.delay == "none" else load(args.delay, DELAY)
    if args.also is None:
        names = [n for n in ("tts-digits",)
                 if args.model == "shipped" and (CHECKPOINTS / n / "pipeline.json").is_file()]
        also = {n: load("shipped", n) for n in names}
    else:
        also = {Path(a).name: load(a) for a in args.also}
    from .melrvq import SHIPPED, pretrained_mel_rvq

    mel = pretrained_mel_rvq() if (SHIPPED / "config.json").is_file() else None
    report = evaluate(pipe, delay=delay, n_per_voice=args.n_per_voice, speed_rows=args.speed_rows,
                      guidance_scale=args.guidance, seed=args.seed, others=also, mel_rvq=mel)
    print(json.dumps(report, indent=1) if args.json else _table(report))
    return 0


def _say(args: argparse.Namespace) -> int:
    from .audio import Audio
    from .data import speech
    from .espeak import check_text
    from .outputs import write_wav
    from .presets import FLATTEN, PROMPT_FRAMES
    from .synth import speak, voice_prompt_of

    text = check_text(args.text)
    # 'shipped': the default checkpoint (delay pattern), or the shipped flatten one with --pattern flatten
    pipe = load(args.model, FLATTEN if args.pattern == "flatten" else None)
    if args.prompt_wav:
        from scipy.io import wavfile

        try:
            rate, pcm = wavfile.read(args.prompt_wav)
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read the prompt WAV {args.prompt_wav!r}: {exc}") from None
        if pcm.ndim > 1:
            pcm = pcm.mean(axis=1)
        scale = 32768.0 if pcm.dtype.kind in "iu" else 1.0
        prompt_audio = Audio((pcm / scale).astype("float32"), int(rate))
    else:
        prompt_audio = speech("one two three four five", args.voice)
    prompt = voice_prompt_of(prompt_audio, pipe.tokenizer, PROMPT_FRAMES)
    out = speak(pipe, [text], [prompt], pattern=args.pattern, guidance_scale=args.guidance, seed=args.seed)
    path = write_wav(out.audio[0], args.out)
    audio_s = out.audio[0].duration
    print(f"wrote {path} ({audio_s:.2f} s of 8 kHz audio, {out.calls} model calls, "
          f"real-time factor {out.elapsed_s / max(audio_s, 1e-9):.2f})")
    return 0


def _table(report: dict) -> str:  # type: ignore[type-arg]
    lines = []
    if "references" in report:  # where the eval's espeak-ng audio came from: "stored" repeats from run to run
        lines.append(f"references: {report['references']}, speaker training clips: {report['speaker_training']}")
    for key in ("wer", "speaker"):
        if key in report:
            lines.append(f"{key}: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                 for k, v in report[key].items()))
    for t in report.get("targets", []):
        lines.append(f"[{'x' if t['met'] else ' '}] {t['name']}: {t['value']:.3f} (target {t['target']:.3f})")
    for f in report.get("files", []):
        lines.append(f"wrote {f}")
    return "\n".join(lines)
