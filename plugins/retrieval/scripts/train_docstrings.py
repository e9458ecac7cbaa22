"""Train the shipped ``docstrings`` checkpoint: a DSI-style retriever over the stdlib docstring corpus.

Data: the shipped snapshot of Python standard-library docstrings
(``arkit_retrieval/data/stdlib-docs.json.gz``: 3,552 documents), split with
``split_queries(seed=0)``: the held-out (test) and validation sentences are never
trained on. Training pairs are every indexed sentence and each document's opening,
paired with the dotted id (``training_pairs``: 9,660 pairs); the indexed text keeps
its sentences apart with blank lines, so every known-item query is one of the training
pairs. Tokenizer: ``retrieval/title-ids``, segment units, a 2,048-token byte-level BPE
on the text side (48 text tokens at most).
Model: ``core/transformer`` d_model 128, 3 layers, 4 heads; ``retrieval/id-head``
(loss on the id positions only). AdamW lr 3e-3, cosine to 3e-4, batch 16 rows
x 256 positions (pairs never cut), seed 0, one CPU thread.

    nice -n 10 .venv/bin/python plugins/retrieval/scripts/train_docstrings.py --steps 1400
    .venv/bin/python plugins/retrieval/scripts/train_docstrings.py --export-only   # ship the newest checkpoint

The pipeline is saved in float16 to ``src/arkit_retrieval/checkpoints/docstrings``
with ``training.json`` (this recipe and the loss curve) and ``training-log.jsonl`` (every
step's metrics) beside it. The shipped run took 29 minutes of wall time (1,715 s, ``elapsed_s``
in the log) on one thread of a shared, heavily loaded 2-core machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import safetensors.torch
import torch

import arkit
from arkit_retrieval.corpus import split_queries, stdlib_docs
from arkit_retrieval.training import MODEL, build_pipeline, training_pairs

TARGET = Path(__file__).resolve().parents[1] / "src" / "arkit_retrieval" / "checkpoints" / "docstrings"


def _load_newest(out_dir: Path) -> arkit.Pipeline:
    """The run's initial pipeline with the weights of its newest checkpoint (float32)."""
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    pipe = arkit.Pipeline.from_pretrained(out_dir / "init")
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
    return pipe


def _ship(out_dir: Path, target: Path, recipe: dict) -> int:
    """Load the newest checkpoint's weights into the run's initial pipeline and save it in float16 as ``target``."""
    checkpoints = sorted((out_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    if not checkpoints:
        raise SystemExit(f"no checkpoint under {out_dir / 'checkpoints'}")
    weights = safetensors.torch.load_file(str(checkpoints[-1] / "model.safetensors"))
    pipe = arkit.Pipeline.from_pretrained(out_dir / "init")
    for name, module in (("backbone", pipe.backbone), ("head", pipe.head)):
        module.load_state_dict({k[len(name) + 1:]: v for k, v in weights.items() if k.startswith(name + ".")})
        module.half()
    pipe.save_pretrained(target)
    step = int(checkpoints[-1].name.split("-")[-1])
    losses = []
    metrics = out_dir / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            row = json.loads(line)
            if "loss" in row and row.get("step", 0) <= step:
                losses.append([row.get("step"), round(row["loss"], 5)])
    if metrics.exists():
        (target / "training-log.jsonl").write_text(metrics.read_text())
    (target / "training.json").write_text(json.dumps({**recipe, "shipped_step": step, "loss_curve": losses[::25]}, indent=1))
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1400)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=Path("runs/retrieval-docstrings"))
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out-dir")
    parser.add_argument("--export-only", action="store_true", help="ship the newest checkpoint of --out-dir and stop")
    parser.add_argument("--target", type=Path, default=TARGET)
    parser.add_argument("--continue-from", type=Path, default=None,
                        help="a finished run's --out-dir: start from its newest weights (a second phase of "
                             "--steps steps with its own warm-up and cosine schedule); checkpoints go to --out-dir")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = {"data": "stdlib-docs snapshot, split_queries(seed=0) (test and validation sentences held out), training_pairs(indexed)", "model": MODEL,
              "tokenizer": "retrieval/title-ids unit=segment text_vocab_size=2048 max_text_tokens=48",
              "steps": args.steps, "lr": args.lr, "batch_size": 16, "seq_len": 256, "seed": args.seed,
              "weight_decay": 0.01, "warmup_steps": 100, "overflow": "truncate", "threads": 1}
    if args.export_only:
        if (args.out_dir / "recipe.json").exists():
            recipe = json.loads((args.out_dir / "recipe.json").read_text())
        print(f"shipped step {_ship(args.out_dir, args.target, recipe)} to {args.target}")
        return
    torch.manual_seed(args.seed)
    pairs = training_pairs(split_queries(stdlib_docs(), seed=0).indexed)
    if args.continue_from is not None:
        pipe = _load_newest(args.continue_from)
        pipe.save_pretrained(args.out_dir / "init")
        recipe["continued_from"] = {"run": str(args.continue_from), **json.loads(
            (args.continue_from / "recipe.json").read_text())} if (args.continue_from / "recipe.json").exists() else str(args.continue_from)
    elif args.resume and (args.out_dir / "init").is_dir():
        pipe = arkit.Pipeline.from_pretrained(args.out_dir / "init")
    else:
        pipe = build_pipeline(pairs)
        pipe.save_pretrained(args.out_dir / "init")
    (args.out_dir / "recipe.json").write_text(json.dumps(recipe, indent=1))
    print(f"{len(pairs)} pairs, vocab {pipe.tokenizer.vocab_size}, {pipe.num_parameters} parameters", flush=True)
    result = pipe.fit(pairs, steps=args.steps, batch_size=16, seq_len=256, lr=args.lr, weight_decay=0.01,
                      warmup_steps=100, overflow="truncate", seed=args.seed, threads=1, progress=False,
                      out_dir=str(args.out_dir), checkpoint_every=args.checkpoint_every, keep_checkpoints=2,
                      resume_from="latest" if args.resume else None)
    print(f"loss {result.losses[0]:.4f} -> {result.losses[-1]:.4f}", flush=True)
    print(f"shipped step {_ship(args.out_dir, args.target, recipe)} to {args.target}")


if __name__ == "__main__":
    main()
