"""Pre-train the shipped molecule checkpoints (``smiles-moses``, ``selfies-moses``) on MOSES.

Data: a seeded random subset of the MOSES training split (the molsets wheel's
``train.csv.gz``), written as Kekulé SMILES (the validity constraint needs Kekulé
form) or as SELFIES of those. No condition tags: the checkpoints are unconditional.
Items are packed into ``--seq-len`` rows by ``Pipeline.fit`` (one torch thread).

    nice -n 10 python plugins/molecules/scripts/pretrain.py --kind smiles --steps 2000 \\
        --out-dir runs/molecules-smiles > runs/molecules-smiles.log 2>&1
    # interrupted? the same command with --resume continues from the newest checkpoint
    # a shorter schedule, resumable with a longer one (the shipped SELFIES model: 200, 600, then 2,000 steps;
    # see its training.json):
    nice -n 10 python plugins/molecules/scripts/pretrain.py --kind selfies --steps 200 --warmup-steps 20 \\
        --train-size 50000 --checkpoint-every 20 --out-dir runs/molecules-selfies
    # ship the newest checkpoint of a run that is still going (or was stopped):
    python plugins/molecules/scripts/pretrain.py --kind smiles --out-dir runs/molecules-smiles --export-only

Shipping writes the pipeline (weights as float16 safetensors) to
``plugins/molecules/src/arkit_molecules/checkpoints/<kind>-moses`` with
``training.json`` (seed, data, step count, configuration) and ``training_log.jsonl``
(the run's loss curve) beside it; ``arkit molecules eval`` loads it by default.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import shutil
import sys
import time

import safetensors.torch
import torch

import arkit
from arkit_molecules.datasets import load_smiles
from arkit_molecules.selfies_tokenizer import to_selfies
from arkit_molecules.shipped import CHECKPOINTS

#: The shipped model: a 4-layer, 192-wide transformer (about 1.8M parameters; 3.6 MB in float16).
MODEL = {"d_model": 192, "n_layers": 4, "n_heads": 6, "max_seq_len": 128}


def build(kind: str) -> arkit.Pipeline:
    """The ``molecules/<kind>-small`` preset widened to :data:`MODEL` (random weights)."""
    return arkit.Pipeline.from_preset(f"molecules/{kind}-small", backbone=dict(MODEL),
                                      head={"d_model": MODEL["d_model"]})


def items(kind: str, train_size: int, seed: int) -> tuple[list[str], dict[str, object]]:
    """The training items and a description of them (for ``training.json``)."""
    data = load_smiles("moses-train", limit=train_size, seed=seed, kekule=True)
    smiles = list(data.smiles)
    info: dict[str, object] = {"dataset": "moses-train", "subset": train_size, "subset_seed": seed, "kekule": True,
                               "report": str(data.report)}
    if kind == "selfies":
        out, skipped = to_selfies(smiles)
        info["selfies_encoder_skipped"] = skipped
        return out, info
    return smiles, info


def _to_float16(folder: Path) -> None:
    """Rewrite every ``model.safetensors`` under ``folder`` with float16 tensors (others kept)."""
    for path in folder.rglob("model.safetensors"):
        weights = safetensors.torch.load_file(str(path))
        half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}
        safetensors.torch.save_file(half, str(path))


def export(pipe: arkit.Pipeline, out_dir: Path, target: Path, meta: dict[str, object]) -> int:
    """Load the newest checkpoint of ``out_dir`` into ``pipe`` and ship it as ``target``; return its step."""
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
    step = int(checkpoints[-1].name.split("-")[-1])
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    pipe.save_pretrained(staging)
    _to_float16(staging)
    log = out_dir / "metrics.jsonl"
    if log.is_file():
        lines = [line for line in log.read_text().splitlines()
                 if line.strip() and json.loads(line).get("step", 0) <= step]
        (staging / "training_log.jsonl").write_text("\n".join(lines) + "\n")
    runs = out_dir / "invocations.jsonl"  # every training command run into out_dir (a resumed run has several)
    if runs.is_file():
        meta = {**meta, "invocations": [json.loads(line) for line in runs.read_text().splitlines() if line.strip()]}
    (staging / "training.json").write_text(json.dumps({**meta, "steps_trained": step,
                                                       "parameters": pipe.num_parameters}, indent=2) + "\n")
    staging.chmod(0o755)  # save_pretrained's temporary folder is private; the shipped one is for everyone
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("smiles", "selfies"), default="smiles")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--warmup-steps", type=int, default=100, help="linear warm-up steps before the decay")
    parser.add_argument("--train-size", type=int, default=250_000, help="MOSES training molecules (random subset)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=None, help="checkpoints and metrics.jsonl")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out-dir")
    parser.add_argument("--export-only", action="store_true", help="ship the newest checkpoint of --out-dir and stop")
    parser.add_argument("--target", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    out_dir = args.out_dir or Path(f"runs/molecules-{args.kind}")
    target = args.target or CHECKPOINTS / f"{args.kind}-moses"
    begin = time.perf_counter()
    torch.manual_seed(args.seed)
    initial = out_dir / "initial-pipeline"  # the fitted alphabet, so that --export-only need not read the data
    info_path = out_dir / "data.json"
    if args.export_only and initial.is_dir() and info_path.is_file():
        pipe, data, info = arkit.Pipeline.from_pretrained(initial), [], json.loads(info_path.read_text())
    else:
        pipe = build(args.kind)
        data, info = items(args.kind, args.train_size, args.seed)
        pipe.tokenizer.fit(data)  # the alphabet: deterministic given the data, so --export-only rebuilds the same one
        print(f"{len(data)} items ({info['report']}); {pipe.num_parameters} parameters; "
              f"data ready in {time.perf_counter() - begin:.0f} s", flush=True)
        out_dir.mkdir(parents=True, exist_ok=True)
        if not initial.is_dir():
            pipe.save_pretrained(initial)
        info_path.write_text(json.dumps(info, indent=2) + "\n")
    config = arkit.TrainConfig(steps=args.steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=args.lr,
                               warmup_steps=args.warmup_steps, threads=1, seed=args.seed, out_dir=str(out_dir),
                               checkpoint_every=args.checkpoint_every, keep_checkpoints=2, log_every=10,
                               progress=False, resume_from="latest" if args.resume else None)
    meta = {"kind": args.kind, "seed": args.seed, "data": info, "model": MODEL,
            "train_config": {"steps": args.steps, "batch_size": args.batch_size, "seq_len": args.seq_len,
                             "lr": args.lr, "warmup_steps": args.warmup_steps},
            "command": f"python plugins/molecules/scripts/pretrain.py --kind {args.kind} --steps {args.steps} "
                       f"--batch-size {args.batch_size} --seq-len {args.seq_len} --lr {args.lr} "
                       f"--warmup-steps {args.warmup_steps} --train-size {args.train_size} --seed {args.seed}"}
    if not args.export_only:
        with (out_dir / "invocations.jsonl").open("a") as f:
            f.write(json.dumps({"argv": sys.argv[1:], "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
                    + "\n")
        result = pipe.fit(data, config)
        print(f"loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f} in {time.perf_counter() - begin:.0f} s",
              flush=True)
    step = export(pipe, out_dir, target, meta)
    print(f"shipped step {step} to {target}", flush=True)


if __name__ == "__main__":
    main()
