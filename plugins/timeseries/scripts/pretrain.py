"""Pre-train ``timeseries/chronos-mini`` and ship it as the plugin's checkpoint.

Data: KernelSynth series plus the *histories* of the in-domain bundled series
(each without its held-out tail; the zero-shot group ``splits.ZERO_SHOT`` is
never read), as scaled windows (``arkit_timeseries.training.TrainingWindows``),
half of them detrended first (``--detrend-share``). One torch thread.

    nice -n 10 python plugins/timeseries/scripts/pretrain.py --steps 2400 --out-dir runs/chronos-mini
    # interrupted? the same command with --resume continues from the newest checkpoint
    # ship the newest checkpoint of a run that is still going (or was stopped):
    python plugins/timeseries/scripts/pretrain.py --out-dir runs/chronos-mini --export-only

The pipeline is written (atomically, weights in float16) to
``plugins/timeseries/src/arkit_timeseries/checkpoints/chronos-mini``, which
``arkit_timeseries.pretrained()`` and ``arkit timeseries eval`` load, with
``training.json`` (seed, data, step, arguments) and ``training-log.jsonl``
(the run's ``metrics.jsonl`` up to the shipped step) beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import safetensors.torch
import torch

import arkit
from arkit_timeseries import splits
from arkit_timeseries.presets import CHECKPOINTS
from arkit_timeseries.training import RECIPE, pretrain


def _ship(pipe: arkit.Pipeline, target: Path, out_dir: Path, step: int, args: argparse.Namespace) -> None:
    """Save ``pipe`` in float16 to ``target`` with its training record and log (up to ``step``)."""
    pipe.backbone.half()
    pipe.head.half()
    pipe.save_pretrained(target)
    pipe.backbone.float()
    pipe.head.float()
    record = {
        "preset": "timeseries/chronos-mini", "step": step, "seed": args.seed, "steps_planned": args.steps,
        "batch_size": args.batch_size, "seq_len": args.seq_len, "lr": args.lr, "real_share": args.real_share,
        "detrend_share": args.detrend_share, "dtype": "float16", "note": args.note,
        "data": {"synthetic": "arkit_timeseries.synthetic.kernel_synth (1024 values per series, seeded)",
                 "real": "histories (held-out tails removed) of " + ", ".join(splits.in_domain()),
                 "never_seen": list(splits.ZERO_SHOT)},
    }
    (target / "training.json").write_text(json.dumps(record, indent=1) + "\n")
    log = out_dir / "metrics.jsonl"
    if log.is_file():
        lines = [line for line in log.read_text().splitlines()
                 if line.strip() and json.loads(line).get("step", 0) <= step]
        (target / "training-log.jsonl").write_text("\n".join(lines) + "\n")


def _export_latest(out_dir: Path, target: Path, args: argparse.Namespace) -> int:
    """Load the newest checkpoint's weights into a fresh preset and ship it as ``target``; return its step."""
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
    step = int(checkpoints[-1].name.split("-")[-1])
    _ship(pipe, target, out_dir, step, args)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=RECIPE["batch_size"])
    parser.add_argument("--seq-len", type=int, default=RECIPE["seq_len"])
    parser.add_argument("--lr", type=float, default=RECIPE["lr"])
    parser.add_argument("--real-share", type=float, default=RECIPE["real_share"],
                        help="share of windows cut from the in-domain histories")
    parser.add_argument("--detrend-share", type=float, default=RECIPE["detrend_share"],
                        help="share of windows detrended before scaling")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/chronos-mini"), help="checkpoints and metrics.jsonl")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out-dir")
    parser.add_argument("--export-only", action="store_true", help="ship the newest checkpoint of --out-dir and stop")
    parser.add_argument("--target", type=Path, default=CHECKPOINTS / "chronos-mini")
    parser.add_argument("--note", default="", help="a line for training.json (e.g. how the run was interrupted)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.export_only:
        step = _export_latest(args.out_dir, args.target, args)
        print(f"shipped step {step} to {args.target}")
        return
    torch.manual_seed(args.seed)
    pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    real = [s.history for s in splits.splits(splits.in_domain())]
    result = pretrain(pipe, real, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                      real_share=args.real_share, seed=args.seed, out_dir=str(args.out_dir),
                      checkpoint_every=args.checkpoint_every, resume_from="latest" if args.resume else None,
                      detrend_share=args.detrend_share, progress=False)
    _ship(pipe, args.target, args.out_dir, args.steps, args)
    print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; saved {pipe.num_parameters} parameters to {args.target}")


if __name__ == "__main__":
    main()
