"""Pre-train ``polygen-mini`` (or ``--model octree``: ``octree-mini``) and ship it as a checkpoint (float16).

Data: ``arkit_shapes.load_primitives(n_train=5000, seed=0).train`` (box, cone, cylinder and
sphere with random parameters and rotations about z, normalised to the unit cube; octree: 1,000),
plus unlabelled copies of 10 % of them for classifier-free guidance. One torch thread.

    nice -n 10 python plugins/shapes/scripts/pretrain.py --steps 600 --batch-size 16 --n-layers 3 \
        --checkpoint-every 50 --out-dir /tmp/shapes-polygen > plugins/shapes/scripts/pretrain.log 2>&1
    nice -n 10 python plugins/shapes/scripts/pretrain.py --model octree --steps 150 --batch-size 8 --n-train 1000 \
        --d-model 96 --n-layers 3 --checkpoint-every 25 --out-dir /tmp/shapes-octree \
        > plugins/shapes/scripts/pretrain-octree.log 2>&1
    # ship the newest checkpoint of a run that is still going (or was stopped):
    python plugins/shapes/scripts/pretrain.py --out-dir /tmp/shapes-polygen --n-layers 3 --export-only

The octree model learns one level per call (``arkit_shapes.octree.OctreeSchedule``) on the same
primitives voxelised at 16^3. The pipeline is written (atomically) to
``plugins/shapes/src/arkit_shapes/checkpoints/<model>-mini``,
which ``arkit_shapes.load_pretrained()``, the tests and ``arkit shapes eval`` load.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import shutil
import time

import safetensors.torch
import torch

import arkit
from arkit_shapes import load_primitives
from arkit_shapes.training import CHECKPOINTS, octree_pipeline, polygen_pipeline, save_half, train_octree, train_polygen


def _export_latest(out_dir: Path, target: Path, args: argparse.Namespace) -> int:
    """Load the newest checkpoint's weights into a fresh pipeline and save it as ``target`` (float16)."""
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"))
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    pipe = _pipeline(args)
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
    save_half(pipe, target)
    return int(checkpoints[-1].name.split("-")[-1])


def _keep_log(out_dir: Path, model: str) -> None:
    """Copy the run's per-step metrics next to this script (``<model>-mini.metrics.jsonl``)."""
    source = out_dir / "metrics.jsonl"
    if source.is_file():
        shutil.copyfile(source, Path(__file__).with_name(f"{model}-mini.metrics.jsonl"))


def _pipeline(args: argparse.Namespace) -> arkit.Pipeline:
    build = octree_pipeline if args.model == "octree" else polygen_pipeline
    return build(d_model=args.d_model, n_layers=args.n_layers, seed=args.seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("polygen", "octree"), default="polygen")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--n-train", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("/tmp/shapes-polygen"))
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument("--target", type=Path, default=None, help="default: the package's checkpoints/<model>-mini")
    args = parser.parse_args()
    args.target = args.target or CHECKPOINTS / f"{args.model}-mini"
    torch.set_num_threads(1)
    if args.export_only:
        step = _export_latest(args.out_dir, args.target, args)
        _keep_log(args.out_dir, args.model)
        print(f"shipped step {step} to {args.target}")
        return
    start = time.time()
    data = load_primitives(n_train=args.n_train, n_test=0, seed=args.seed).train
    pipe = _pipeline(args)
    print(json.dumps({"data": f"load_primitives(n_train={args.n_train}, seed={args.seed}).train + 10% null-class copies",
                      "parameters": pipe.num_parameters, **{k: v for k, v in vars(args).items() if k != "target"}},
                     default=str), flush=True)
    options = dict(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed, out_dir=str(args.out_dir),
                   checkpoint_every=args.checkpoint_every, keep_checkpoints=2, log_every=50, progress=False,
                   metrics_path=str(args.out_dir / "metrics.jsonl"))
    if args.model == "octree":
        result = train_octree(pipe, data, **options)
    else:
        result = train_polygen(pipe, data, seq_len=args.seq_len, **options)
    save_half(pipe, args.target)
    _keep_log(args.out_dir, args.model)
    print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f} in {time.time() - start:.0f} s; "
          f"saved {pipe.num_parameters} parameters (float16) to {args.target}", flush=True)


if __name__ == "__main__":
    main()
