"""Pre-train ``speech/tts-small`` on espeak-ng digit strings and ship it as the plugin's checkpoint.

Data (all made here, seeded): 600 digit strings of 1-3 words per voice in the four voices
of ``arkit_speech.espeak.VOICES`` (seed 0), spoken by espeak-ng, resampled to 8 kHz and
encoded with codec2-1200 (6 byte codebooks per 40 ms frame). Each utterance appears twice,
each time with a different 8-frame (0.32 s) voice prompt cut from another utterance of its
voice; 10 % of the items have no phonemes (for classifier-free guidance). One torch thread.

``--pattern flatten`` (the default) trains next-token prediction over the flat codes
(``tts-digits``); ``--pattern delay`` / ``parallel`` trains block-wise with
``arkit_speech.schedule.CodecSchedule`` (``Pipeline.fit(schedule=...)``): every codebook
of a step in one call (``tts-digits-delay`` / ``tts-digits-parallel``). ``--codec-split
fields`` makes the tokens codec2's own parameters instead of its bytes (the corpus is cached
as bytes and recut), and ``--d-model`` / ``--n-layers`` size the backbone (the shipped
``tts-digits-delay``: fields, 192, 6; see docs/speech.md for its commands).

    python plugins/speech/scripts/pretrain.py --steps 2000 --out-dir runs/speech-tts
    python plugins/speech/scripts/pretrain.py --pattern delay --seq-len 320 --out-dir runs/speech-delay
    # interrupted? the same command with --resume continues from the newest checkpoint
    # train a shipped checkpoint on (its run's folder is gone): its weights, a fresh optimiser and schedule
    python plugins/speech/scripts/pretrain.py --pattern delay --codec-split fields --d-model 192 --n-layers 6 \
        --init-from plugins/speech/src/arkit_speech/checkpoints/tts-digits-delay --out-dir runs/speech-delay-on
    # ship the newest checkpoint of a run that is still going (or was stopped):
    python plugins/speech/scripts/pretrain.py --out-dir runs/speech-tts --export-only

The pipeline is written (atomically, float16 weights) to
``plugins/speech/src/arkit_speech/checkpoints/tts-digits[-PATTERN]`` with this run's ``metrics.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
import shutil
import warnings

import safetensors.torch
import torch

import arkit
from arkit_speech import data
from arkit_speech.codec2 import Codec2Tokenizer
from arkit_speech.espeak import VOICES
from arkit_speech.evaluation import held_out_texts
from arkit_speech.schedule import CodecSchedule
from arkit_speech.presets import CHECKPOINTS, MAX_WORDS, MODEL, PROMPT_FRAMES


EXTRA_SEED_OFFSET = 100
"""``--extra-per-voice`` strings are drawn with seed ``seed + EXTRA_SEED_OFFSET`` (voice ``v``: its ``* 1000 + v``),
so they are not the main corpus's draws."""


def _corpus(out_dir: Path, n_per_voice: int, seed: int, words: tuple[int, int] = (1, MAX_WORDS)
            ) -> list[data.Sample]:
    """The cached corpus of ``n_per_voice`` strings of ``words`` (fewest, most) words per voice, made on first use.
    No string says a held-out string (as a run of whole words)."""
    low, high = words
    name = f"{low}-{high}" if low != 1 else f"{high}"  # the 1-to-MAX_WORDS corpus keeps its earlier file name
    path = out_dir / f"corpus-{n_per_voice}-{seed}-{name}-words-heldout-excluded.npz"
    if not path.is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", arkit.ArkitWarning)
            samples = data.make_corpus(n_per_voice, seed=seed, min_len=low, max_len=high, exclude=held_out_texts())
            data.save_corpus(samples, path)
    return data.load_corpus(path)


def _samples(args: argparse.Namespace) -> list[data.Sample]:
    """The run's utterances: the main corpus, plus ``--extra-per-voice`` longer strings if asked for."""
    samples = _corpus(args.out_dir, args.n_per_voice, args.seed)
    if args.extra_per_voice:
        samples += _corpus(args.out_dir, args.extra_per_voice, args.seed + EXTRA_SEED_OFFSET, args.extra_words)
    return samples


def _word_range(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        words = (int(low), int(high or low))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX words, got {text!r}") from None
    if not 1 <= words[0] <= words[1]:
        raise argparse.ArgumentTypeError(f"expected 1 <= MIN <= MAX words, got {text!r}")
    return words


def _pipeline(args: argparse.Namespace) -> arkit.Pipeline:
    """A fresh ``speech/tts-small`` with the run's tokenizer options (its vocabulary follows the codebooks)."""
    options = {"by_word": bool(args.by_word), "codec_split": args.codec_split}
    vocab = arkit.create("tokenizer", "speech/tts", **options).vocab_size
    backbone = {"vocab_size": vocab, "d_model": args.d_model, "n_layers": args.n_layers,
                "n_heads": args.d_model // 32}  # heads of 32
    return arkit.Pipeline.from_preset("speech/tts-small", tokenizer=options, backbone=backbone,
                                      head={"vocab_size": vocab, "d_model": args.d_model})


def _in_layout(samples: list[data.Sample], split: str) -> list[data.Sample]:
    """The corpus (stored as codec2's bit slices) in the run's codebook layout."""
    if split == "bits":
        return samples
    stored, wanted = Codec2Tokenizer(), Codec2Tokenizer(split=split)
    return [dataclasses.replace(s, frames=wanted.frames_from(s.frames, stored)) for s in samples]


def _ship(pipe: arkit.Pipeline, args: argparse.Namespace, step: int) -> None:
    """Save ``pipe`` with float16 weights, its pattern in the tokenizer's config, greedy decoding (on held-out
    rows it beat sampling at temperature 1 on WER and voice: scripts/diagnose.py), and the training log beside it.
    ``TRAINING.json`` records the run's data, options and the command that repeats it."""
    target, out_dir, pattern = args.target, args.out_dir, args.pattern
    pipe.tokenizer.pattern = pattern
    pipe = pipe.replace(sampler=arkit.create("sampler", "core/greedy"))
    pipe.backbone.half()
    pipe.head.half()
    pipe.save_pretrained(target)
    pipe.backbone.float()
    pipe.head.float()
    metrics = out_dir / "metrics.jsonl"
    if metrics.is_file():
        shutil.copy(metrics, target / "metrics.jsonl")
    options = {"steps": args.steps, "batch_size": args.batch_size, "seq_len": args.seq_len, "lr": args.lr,
               "n_per_voice": args.n_per_voice, "seed": args.seed, "codec_split": args.codec_split,
               "d_model": args.d_model, "n_layers": args.n_layers}
    extra_words = "-".join(map(str, args.extra_words))
    if args.extra_per_voice:
        options.update(extra_per_voice=args.extra_per_voice, extra_words=extra_words)
    command = " ".join(["python plugins/speech/scripts/pretrain.py", f"--pattern {pattern}",
                        *(["--by-word"] if args.by_word else []),
                        *(f"--{key.replace('_', '-')} {value}" for key, value in options.items()),
                        *([f"--init-from {args.init_from}"] if args.init_from else [])])
    record = {"script": "plugins/speech/scripts/pretrain.py", "step": step, "pattern": pattern,
              "by_word": bool(getattr(pipe.tokenizer, "by_word", False)), "seed": args.seed,
              "sampler": "core/greedy", "options": options, "command": command,
              "data": f"espeak-ng digit strings of 1-{MAX_WORDS} words, {args.n_per_voice} drawn per voice in "
                      f"{list(VOICES)} (seed {args.seed})" + (
                          f", plus {args.extra_per_voice} of {extra_words} words per voice "
                          f"(seed {args.seed + EXTRA_SEED_OFFSET})" if args.extra_per_voice else "") +
                      f", none saying one of the evaluation's held-out strings ({len(_samples(args))} utterances), "
                      f"8 kHz, codec2-1200 as 6 codebooks (split={args.codec_split!r}); each utterance twice with a "
                      f"{PROMPT_FRAMES}-frame "
                      f"voice prompt from another utterance of its voice; 10 % without phonemes",
              "log": "metrics.jsonl: the training run's lines (loss every 10 steps); runs that were stopped and "
                     "resumed with a new --steps keep their lines up to the checkpoint they resumed from"}
    (target / "TRAINING.json").write_text(json.dumps(record, indent=1))


def _export_latest(args: argparse.Namespace) -> int:
    checkpoints = sorted((args.out_dir / "checkpoints").glob("checkpoint-*"))  # zero-padded steps
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {args.out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    pipe = _pipeline(args)
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
    step = int(checkpoints[-1].name.split("-")[-1])
    _ship(pipe, args, step)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--n-per-voice", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-per-voice", type=int, default=0,
                        help="also train on this many longer strings per voice (--extra-words), none saying a "
                             "held-out string: new word sequences where the 1-3-word corpus repeats itself")
    parser.add_argument("--extra-words", type=_word_range, default=(4, 4), help="N or MIN-MAX words (default 4)")
    parser.add_argument("--out-dir", type=Path, default=Path("runs/speech-tts"))
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--pattern", choices=("flatten", "delay", "parallel"), default="flatten")
    parser.add_argument("--by-word", action="store_true",
                        help="interleave each word's phonemes with its audio (flatten only; checkpoint tts-digits-words)")
    parser.add_argument("--codec-split", choices=("bits", "fields"), default="bits",
                        help="codec2's frame as 6 byte slices (bits) or as its own parameters (fields)")
    parser.add_argument("--d-model", type=int, default=MODEL["d_model"], help="width (multiple of 32: heads of 32)")
    parser.add_argument("--n-layers", type=int, default=MODEL["n_layers"])
    parser.add_argument("--target", type=Path, default=None, help="default: checkpoints/tts-digits[-PATTERN]")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="start from the weights of a saved pipeline with the same options (a fresh optimiser, "
                             "warm-up and cosine schedule); for training a shipped checkpoint on once its run is gone")
    args = parser.parse_args()
    if args.target is None:
        args.target = CHECKPOINTS / ("tts-digits" if args.pattern == "flatten" else f"tts-digits-{args.pattern}")
        if args.by_word:
            args.target = CHECKPOINTS / "tts-digits-words"
    torch.set_num_threads(1)
    if args.export_only:
        print(f"shipped step {_export_latest(args)} to {args.target}")
        return
    torch.manual_seed(args.seed)
    samples = _in_layout(_samples(args), args.codec_split)
    pipe = _pipeline(args)
    if args.init_from is not None:
        start = arkit.Pipeline.from_pretrained(args.init_from)
        try:
            pipe.backbone.load_state_dict({k: v.float() for k, v in start.backbone.state_dict().items()})
            pipe.head.load_state_dict({k: v.float() for k, v in start.head.state_dict().items()})
        except RuntimeError as exc:
            raise SystemExit(f"--init-from {args.init_from}: its weights do not fit this run's options (pattern, "
                             f"--codec-split, --d-model, --n-layers): {str(exc).splitlines()[0]}") from None
    items = [item for k in range(2) for item in
             data.training_items(samples, pipe.tokenizer, seed=args.seed * 10 + k, prompt_frames=PROMPT_FRAMES,
                                 by_word=args.by_word)]
    schedule = None
    if args.pattern != "flatten":
        schedule = CodecSchedule(pipe.tokenizer, args.pattern)
        items = [(dataclasses.replace(item, audio=None), schedule.blocks(item.audio)) for item in items]
    print(f"{len(samples)} utterances, {len(items)} items, {pipe.num_parameters} parameters", flush=True)
    result = pipe.fit(items, schedule=schedule, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len,
                      lr=args.lr,
                      warmup_steps=100, overflow="truncate", threads=1, progress=False, seed=args.seed,
                      out_dir=str(args.out_dir), log_every=10, checkpoint_every=args.checkpoint_every,
                      resume_from="latest" if args.resume else None)
    _ship(pipe, args, args.steps)
    print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; saved to {args.target}")


if __name__ == "__main__":
    main()
