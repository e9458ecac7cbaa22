"""Pre-train ``timeseries/chronos-mini`` and ship it as the plugin's checkpoint.

Data: KernelSynth series plus the *histories* of every bundled series (each
series without its held-out tail, see ``arkit_timeseries.splits``), as scaled
windows (``arkit_timeseries.training.TrainingWindows``). One torch thread.

    python plugins/timeseries/scripts/pretrain.py --steps 2200 --out-dir runs/chronos-mini
    # interrupted? the same command with --resume continues from the newest checkpoint
    # ship the newest checkpoint of a run that is still going (or was stopped):
    python plugins/timeseries/scripts/pretrain.py --out-dir runs/chronos-mini --export-only

The pipeline is written (atomically) to
``plugins/timeseries/src/arkit_timeseries/checkpoints/chronos-mini``, which
``arkit_timeseries.pretrained()`` and ``arkit timeseries eval`` load.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import safetensors.torch
import torch

import arkit
from arkit_timeseries import splits
from arkit_timeseries.presets import CHECKPOINTS
from arkit_timeseries.training import pretrain


def _export_latest(out_dir: Path, target: Path) -> int:
    """Load the newest checkpoint's weights into a fresh preset and save it as ``target``; return its step."""
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"))
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
    pipe.save_pretrained(target)
    return int(checkpoints[-1].name.split("-")[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--real-share", type=float, default=0.4, help="share of windows cut from the bundled histories")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/chronos-mini"), help="checkpoints and metrics.jsonl")
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out-dir")
    parser.add_argument("--export-only", action="store_true", help="ship the newest checkpoint of --out-dir and stop")
    parser.add_argument("--target", type=Path, default=CHECKPOINTS / "chronos-mini")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.export_only:
        step = _export_latest(args.out_dir, args.target)
        print(f"shipped step {step} to {args.target}")
        return
    torch.manual_seed(args.seed)
    pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    real = [s.history for s in splits.splits()]
    result = pretrain(pipe, real, steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                      real_share=args.real_share, seed=args.seed, out_dir=str(args.out_dir),
                      checkpoint_every=args.checkpoint_every, resume_from="latest" if args.resume else None)
    pipe.save_pretrained(args.target)
    print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f}; saved {pipe.num_parameters} parameters to {args.target}")


if __name__ == "__main__":
    main()
