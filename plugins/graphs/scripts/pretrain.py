"""Train the plugin's shipped checkpoints (float16 safetensors, under ``src/arkit_graphs/checkpoints``).

- ``trees``: ``graphs/bfs-small`` (0.6M parameters) on the ``trees`` dataset's training split
  (2,400 random labelled trees of 10-20 nodes, seed 0), 4 random node orders per tree.
- ``trees-layers``: ``graphs/layers-small`` on the same trees, trained block-wise (one BFS layer per block).
- ``community-small``: ``graphs/bfs-small`` on the ``community-small`` training split (800 graphs), 16 orders
  each, its tokenizer in maximum-cardinality node order (the two blocks come out one after the other).
  Shipped: ``--steps 3000``, then ``--more --steps 1500``.
- ``atlas-5``: a tiny ``graphs/bfs-small`` (d_model 64, 2 layers) on the 21 connected 5-node graphs of
  ``nx.graph_atlas_g()``, equally often (200 random node orders each): the exact-distribution tests' model.

    nice -n 10 python plugins/graphs/scripts/pretrain.py trees --steps 1000
    nice -n 10 python plugins/graphs/scripts/pretrain.py atlas-5 --steps 400

Each run writes ``checkpoints/<name>/`` (a saved pipeline) with ``TRAINING.txt`` (seed, data, steps,
losses) and ``metrics.jsonl`` (the training log) beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import shutil
import tempfile
import time

import torch

from arkit_graphs.checkpoints import CHECKPOINTS
from arkit_graphs.datasets import load_dataset
from arkit_graphs.training import train_pipeline

RECIPES = {
    "trees": {"dataset": "trees", "copies": 4, "model": None, "batch_size": 32, "lr": 3e-3},
    "trees-layers": {"dataset": "trees", "copies": 4, "model": None, "batch_size": 64, "lr": 3e-3,
                     "tokenizer": "layers"},
    "community-small": {"dataset": "community-small", "copies": 16, "model": None, "batch_size": 16, "lr": 3e-3,
                        "order": "max-cardinality"},
    "atlas-5": {"dataset": "atlas-5", "copies": 200, "model": {"d_model": 64, "n_layers": 2, "n_heads": 2},
                "batch_size": 32, "lr": 3e-3},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=Path, default=None, help="default: the plugin's checkpoints folder")
    parser.add_argument("--more", action="store_true",
                        help="continue training the shipped checkpoint for --steps more steps (same data and seed)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    recipe = RECIPES[args.name]
    data = load_dataset(recipe["dataset"], seed=args.seed)
    start = time.perf_counter()
    target = args.target or CHECKPOINTS / args.name
    if args.more:
        _more(args, recipe, data, target)
        return
    with tempfile.TemporaryDirectory() as tmp:
        pipe = train_pipeline(data.train, steps=args.steps, copies=recipe["copies"], model=recipe["model"],
                              batch_size=recipe["batch_size"], lr=recipe["lr"], seed=args.seed, progress=False,
                              out_dir=tmp, tokenizer=recipe.get("tokenizer", "bfs"),
                              order=recipe.get("order"))
        log = (Path(tmp) / "metrics.jsonl").read_text()
    elapsed = time.perf_counter() - start
    for module in (pipe.backbone, pipe.head):
        module.half()
    pipe.save_pretrained(target)
    (target / "metrics.jsonl").write_text(log)
    losses = [json.loads(line)["loss"] for line in log.splitlines() if "loss" in line]
    (target / "TRAINING.txt").write_text(
        f"checkpoint {args.name}: rebuilt by `python plugins/graphs/scripts/pretrain.py {args.name} "
        f"--steps {args.steps} --seed {args.seed}`\n"
        f"data: {recipe['dataset']} training split ({len(data.train)} graphs, seed {args.seed}), "
        f"{recipe['copies']} random node orders per graph"
        f"{', tokenizer order ' + recipe['order'] if recipe.get('order') else ''}\n"
        f"model: {recipe.get('tokenizer', 'bfs')} preset {recipe['model'] or ''} ({pipe.num_parameters} parameters), float16 weights\n"
        f"training: {args.steps} steps, batch {recipe['batch_size']}, lr {recipe['lr']}, 1 torch thread, "
        f"{elapsed:.0f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}\n"
    )
    shutil.rmtree(target / "__pycache__", ignore_errors=True)
    print(f"saved {target} ({elapsed:.0f} s, loss {losses[0]:.3f} -> {losses[-1]:.3f})")


def _more(args: argparse.Namespace, recipe: dict, data: object, target: Path) -> None:
    """Continue the shipped checkpoint's training (float32 while training) and append to its records."""
    import arkit
    from arkit_graphs.datasets import augment

    pipe = arkit.Pipeline.from_pretrained(target)
    for module in (pipe.backbone, pipe.head):
        module.float()
    items = augment(data.train, recipe["copies"], seed=args.seed + 1)  # fresh node orders
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        pipe.fit(items, arkit.TrainConfig(steps=args.steps, batch_size=recipe["batch_size"], seq_len=128,
                                          lr=recipe["lr"] * 2 / 3, warmup_steps=10, seed=args.seed + 1, threads=1,
                                          progress=False, overflow="truncate", out_dir=tmp, log_every=10))
        log = (Path(tmp) / "metrics.jsonl").read_text()
    elapsed = time.perf_counter() - start
    for module in (pipe.backbone, pipe.head):
        module.half()
    old_log, old_info = (target / "metrics.jsonl").read_text(), (target / "TRAINING.txt").read_text()
    pipe.save_pretrained(target)
    (target / "metrics.jsonl").write_text(old_log + log)
    losses = [json.loads(line)["loss"] for line in log.splitlines() if "loss" in line]
    (target / "TRAINING.txt").write_text(
        old_info + f"continued: `python plugins/graphs/scripts/pretrain.py {args.name} --more --steps {args.steps} "
        f"--seed {args.seed}`: {args.steps} more steps from the checkpoint (new node orders, seed {args.seed + 1}, "
        f"lr {recipe['lr'] * 2 / 3:.4f}), {elapsed:.0f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}\n")
    print(f"continued {target} ({elapsed:.0f} s, loss {losses[0]:.3f} -> {losses[-1]:.3f})")


if __name__ == "__main__":
    main()
