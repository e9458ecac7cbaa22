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
    demo = sub.add_parser("demo", help="sample the shipped MOSES checkpoints, evaluate, draw figures; with "
                                       "--from-scratch: train small SMILES and SELFIES models first")
    demo.add_argument("--from-scratch", action="store_true",
                      help="train small property-tagged SMILES and SELFIES models (--steps each) instead of loading "
                           "the shipped checkpoints, and measure conditioning")
    demo.add_argument("--steps", type=int, default=800, help="training steps per model with --from-scratch (800)")
    demo.add_argument("--samples", type=int, default=1000, help="molecules sampled per run (default 1000)")
    demo.add_argument("--train-size", type=int, default=50_000, help="MOSES training molecules (default 50000)")
    demo.add_argument("--out", default="molecules-demo", help="folder for pipelines, results.json, molecules.png")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--condition", choices=("logp", "qed"), default="logp",
                      help="the property whose bins tag the SMILES training items (default logp; qed is slower)")
    demo.add_argument("--reference-size", type=int, default=10_000,
                      help="MOSES test molecules for the chemistry metrics (default 10000)")
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    ev = sub.add_parser("eval", help="sample the shipped MOSES checkpoints (or a given or freshly trained model), "
                                     "measure them against MOSES and print the targets")
    ev.add_argument("--model", help="a saved pipeline folder (SMILES or SELFIES) instead of the shipped checkpoints")
    ev.add_argument("--from-scratch", action="store_true",
                    help="train the small SMILES preset for --steps on --train-size molecules instead")
    ev.add_argument("--steps", type=int, default=300, help="training steps with --from-scratch (default 300)")
    ev.add_argument("--train-size", type=int, default=20_000, help="MOSES training molecules with --from-scratch")
    ev.add_argument("--samples", type=int, default=1000, help="molecules to sample per run (default 1000)")
    ev.add_argument("--reference-size", type=int, default=10_000,
                    help="MOSES test molecules for the chemistry metrics (default 10000)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--max-ring-size", default="train", metavar="{N,train,none}",
                    help="the constrained run's largest ring in atoms: N (>= 3), 'train' (default: the largest ring "
                         "among 20000 MOSES training molecules) or 'none'")
    ev.add_argument("--out", help="write eval.json and the figures (rings.png, properties.png, samples.png) here")
    ev.add_argument("--json", action="store_true", help="print the results as JSON")


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
    for name in ("steps", "samples", "train_size", "reference_size"):
        value = getattr(args, name, 1)
        if value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _check(args)
    if not args.from_scratch:  # the shipped checkpoints: the eval, with its figures in --out
        args.model = None
        return _eval(args)
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


def _models(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pipelines to evaluate (by kind) and where they came from."""
    import arkit

    from .datasets import load_smiles
    from .demo import train_model
    from .shipped import checkpoint_path, list_checkpoints, training_info
    from .selfies_tokenizer import SelfiesTokenizer

    if args.model and args.from_scratch:
        raise ConfigError("pass --model or --from-scratch, not both")
    if args.from_scratch:
        train = list(load_smiles("moses-train", limit=args.train_size, seed=args.seed, kekule=True).smiles)
        pipe = train_model("molecules/smiles-small", train, args.steps, seed=args.seed, progress=not args.json)
        return {"smiles": pipe}, {"smiles": {"from_scratch": True, "steps": args.steps, "train_size": args.train_size}}
    if args.model:
        pipe = arkit.Pipeline.from_pretrained(Path(args.model))
        kind = "selfies" if isinstance(pipe.tokenizer, SelfiesTokenizer) else "smiles"
        return {kind: pipe}, {kind: {"model": str(args.model)}}
    models, sources = {}, {}
    for kind in ("smiles", "selfies"):
        name = f"{kind}-moses"
        if name in list_checkpoints():
            models[kind] = arkit.Pipeline.from_pretrained(checkpoint_path(name))
            info = training_info(name)
            sources[kind] = {"checkpoint": name, "steps_trained": info.get("steps_trained"),
                             "parameters": info.get("parameters")}
    if not models:
        raise ConfigError("no shipped checkpoint is installed: pass --model PATH or --from-scratch")
    return models, sources


def _eval(args: argparse.Namespace) -> int:
    from .demo import _jsonable
    from .evaluation import evaluate_models

    _check(args)
    limit = _ring_limit(getattr(args, "max_ring_size", "train"))
    models, sources = _models(args)
    results = evaluate_models(models, samples=args.samples, seed=args.seed, reference_size=args.reference_size,
                              max_ring_size=limit, progress=not args.json)
    results = _jsonable({"models": sources, **results})
    if args.out:
        from .figures import write_figures

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        _write_json(out / "eval.json", results)
        results["figures"] = [str(p) for p in write_figures(results, out)]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    _print_table(results["runs"])
    limit = results["constraint"]["max_ring_size"]
    print(f"\nconstraint: rings of at most {limit} atoms ({results['constraint']['source']})" if limit else
          "\nconstraint: no ring-size limit")
    test = results["test"]
    print(f"\nMOSES test ({test['molecules']} molecules): large-ring rate {test['large_ring_rate']:.3f}, "
          f"filters {test['filters']:.3f}; real twin: SNN {test['twin']['snn']:.3f}, Frag {test['twin']['frag']:.3f}, "
          f"Scaf {test['twin']['scaf']:.3f}")
    print("\ntargets:")
    for t in results["targets"]:
        value = "n/a" if t["value"] is None else f"{t['value']:.4f}"
        print(f"  [{'met' if t['met'] else 'NOT met'}] {t['name']}: {value} (target {t['target']})")
    return 0


def _ring_limit(value: Any) -> int | str | None:
    """``--max-ring-size``: an int >= 3, ``"train"`` or ``None`` (from ``"none"``)."""
    if value in ("train", None):
        return value
    if isinstance(value, str) and value.lower() == "none":
        return None
    try:
        limit = int(value)
    except (TypeError, ValueError):
        limit = 0
    if limit < 3:
        raise ConfigError(f"--max-ring-size must be an int >= 3, 'train' or 'none', got {value!r}")
    return limit


def _write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically (a temporary file, then a rename)."""
    import os
    import tempfile

    fd, tmp = tempfile.mkstemp(suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=2) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _print_table(table: dict[str, dict[str, Any]]) -> None:
    columns = ("valid", "unique", "novel", "int_div", "fcd", "fcd_floor", "snn", "frag", "scaf", "filters",
               "large_ring_rate", "qed_w1", "sa_w1")
    print(f"{'':<20}" + "".join(f"{c[:9]:>10}" for c in columns))
    for name, row in table.items():
        cells = (row.get(c) for c in columns)
        print(f"{name:<20}" + "".join(f"{math.nan if v is None else v:>10.3f}" for v in cells))
