"""``arkit molecules demo`` and ``arkit molecules eval``: the plugin's command line."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
from typing import Any

from arkit import ConfigError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="molecules_command", metavar="{demo,eval}")
    demo = sub.add_parser("demo", help="train small SMILES and SELFIES models, sample, evaluate, draw a grid")
    demo.add_argument("--steps", type=int, default=800, help="training steps per model (default 800)")
    demo.add_argument("--samples", type=int, default=1000, help="molecules sampled per run (default 1000)")
    demo.add_argument("--train-size", type=int, default=50_000, help="MOSES training molecules (default 50000)")
    demo.add_argument("--out", default="molecules-demo", help="folder for pipelines, results.json, molecules.png")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--condition", choices=("logp", "qed"), default="logp",
                      help="the property whose bins tag the SMILES training items (default logp; qed is slower)")
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    ev = sub.add_parser("eval", help="print the metrics table of a trained pipeline (or train a small one first)")
    ev.add_argument("--model", help="a saved pipeline folder (e.g. molecules-demo/smiles); omitted: train one")
    ev.add_argument("--steps", type=int, default=300, help="training steps when no --model is given (default 300)")
    ev.add_argument("--samples", type=int, default=1000, help="molecules to sample (default 1000)")
    ev.add_argument("--train-size", type=int, default=20_000, help="MOSES training molecules (novelty, training)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print the table as JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    if args.molecules_command == "demo":
        return _demo(args)
    if args.molecules_command == "eval":
        return _eval(args)
    print("usage: arkit molecules {demo,eval} [--help]", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace) -> None:
    for name in ("steps", "samples", "train_size"):
        value = getattr(args, name)
        if value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _check(args)
    results = run_demo(steps=args.steps, samples=args.samples, train_size=args.train_size, out_dir=args.out,
                       seed=args.seed, condition=args.condition, progress=not args.json)
    if args.json:
        from .demo import _jsonable

        print(json.dumps(_jsonable(results), indent=2))
        return 0
    print(f"data: {results['data']['report']}")
    _print_table(results["table"])
    print("\nSMILES validity (unconstrained) over training steps:")
    for point in results["smiles_validity_curve"]:
        print(f"  step {point['step']:>6}: {point['valid']:.3f}")
    for name, row in results["table"].items():
        if "intervention" in row:
            i = row["intervention"]
            print(f"\nconstraint ({name}): argmax forbidden at {i['argmax_removed']:.1%} of {i['steps']} steps, "
                  f"mean mass removed {i['mass_removed']:.1%}")
    c = results["conditioning"]
    for mode in ("plain", "guided"):
        m = c[mode]
        print(f"\n{c['property'].upper()} conditioning ({mode}{', scale ' + str(c['guidance_scale']) if mode == 'guided' else ''}): "
              f"{m['tags'][0]} mean {m['low_mean']:.3f}, {m['tags'][1]} mean {m['high_mean']:.3f}, "
              f"shift {m['shift_high_minus_low']:+.3f} (unconditional {c['unconditional_mean']:.3f})")
    print(f"\ngrid: {results['grid']}   pipelines: {results['pipelines']}   ({results['elapsed_s']:.0f} s)")
    return 0


def _eval(args: argparse.Namespace) -> int:
    import arkit

    from .datasets import load_smiles
    from .demo import TRAIN_INFO, train_model
    from .metrics import evaluate
    from .sampling import sample_molecules
    from .selfies_tokenizer import SelfiesTokenizer

    _check(args)
    if args.model:
        folder = Path(args.model)
        pipe = arkit.Pipeline.from_pretrained(folder)
        info_path = folder / TRAIN_INFO
        info = json.loads(info_path.read_text()) if info_path.is_file() else {}
        train = list(load_smiles(info.get("dataset", "moses-train"), limit=info.get("limit", args.train_size),
                                 seed=info.get("seed", args.seed), kekule=True).smiles)
    else:
        train = list(load_smiles("moses-train", limit=args.train_size, seed=args.seed, kekule=True).smiles)
        pipe = train_model("molecules/smiles-small", train, args.steps, seed=args.seed, progress=not args.json)
    reference = list(load_smiles("moses-test", limit=2 * args.samples, seed=args.seed).smiles)
    runs = {"samples": sample_molecules(pipe, args.samples, seed=args.seed, progress=not args.json)}
    if not isinstance(pipe.tokenizer, SelfiesTokenizer):
        runs["samples+constraint"] = sample_molecules(pipe, args.samples, constrained=True, seed=args.seed,
                                                      progress=not args.json)
    table: dict[str, Any] = {}
    for name, samples in runs.items():
        row = evaluate(list(samples.smiles), train=train, reference=reference)
        row["finish_reasons"] = samples.finish_reasons
        if samples.intervention is not None:
            row["intervention"] = samples.intervention.as_dict()
        table[name] = row
    if args.json:
        from .demo import _jsonable

        print(json.dumps(_jsonable(table), indent=2))
    else:
        _print_table(table)
    return 0


def _print_table(table: dict[str, dict[str, Any]]) -> None:
    columns = ("valid", "unique", "novel", "int_div", "fcd", "fcd_floor", "qed_mean", "sa_mean", "logp_mean")
    print(f"{'':<20}" + "".join(f"{c:>10}" for c in columns))
    for name, row in table.items():
        cells = (row.get(c, math.nan) for c in columns)
        print(f"{name:<20}" + "".join(f"{v:>10.3f}" for v in cells))
