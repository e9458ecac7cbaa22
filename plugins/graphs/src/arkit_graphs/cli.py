"""``arkit graphs demo`` and ``arkit graphs eval``: the plugin's command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from arkit import ConfigError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="graphs_command", metavar="{demo,eval}")
    demo = sub.add_parser("demo", help="train small models on trees and community-small, sample, evaluate, draw")
    demo.add_argument("--steps", type=int, default=400, help="training steps per model (default 400)")
    demo.add_argument("--samples", type=int, default=200, help="graphs sampled per run (default 200)")
    demo.add_argument("--out", default="graphs-demo", help="folder for pipelines, results.json and PNG grids")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--json", action="store_true", help="print the results as JSON")
    ev = sub.add_parser("eval", help="measure the issue's targets on the shipped checkpoints")
    ev.add_argument("--samples", type=int, default=500, help="graphs sampled per run (default 500)")
    ev.add_argument("--atlas-samples", type=int, default=2000, help="graphs per atlas chi-square run (default 2000)")
    ev.add_argument("--parts", default="trees,blockwise,community-small,atlas",
                    help="comma-separated parts to run (default: all)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--grids", help="also draw PNG grids of generated against real graphs into this folder")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    if args.graphs_command == "demo":
        return _demo(args)
    if args.graphs_command == "eval":
        return _eval(args)
    print("usage: arkit graphs {demo,eval} [--help]", file=sys.stderr)
    return 2


def _check(args: argparse.Namespace, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(args, name)
        if value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def _eval(args: argparse.Namespace) -> int:
    from .checkpoints import pretrained
    from .evaluation import evaluate

    _check(args, ("samples", "atlas_samples"))
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    known = {"trees", "blockwise", "community-small", "atlas"}
    if not parts or parts - known:
        raise ConfigError(f"--parts takes a comma-separated subset of {sorted(known)}, got {args.parts!r}")
    if "blockwise" in parts:
        parts.add("trees")  # the node-by-node baseline of the call count
    say = None if args.json else (lambda message: print(f"... {message}", file=sys.stderr, flush=True))
    report = evaluate(
        trees=pretrained("trees") if "trees" in parts else None,
        layers=pretrained("trees-layers") if "blockwise" in parts else None,
        community=pretrained("community-small") if "community-small" in parts else None,
        atlas=pretrained("atlas-5") if "atlas" in parts else None,
        samples=args.samples, atlas_samples=args.atlas_samples, seed=args.seed, progress=say,
    )
    if args.grids:
        report["grids"] = _grids(parts, args.grids, args.seed)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
        if args.grids:
            print(f"\ngrids: {', '.join(report['grids'])}")
    return 0 if all(t["met"] for t in report["targets"]) else 1


def _grids(parts: set[str], folder: str, seed: int) -> list[str]:
    """Eight real test graphs against eight samples per way of sampling, one PNG per dataset."""
    import random

    import arkit

    from .bfs_layers import LayerSchedule
    from .checkpoints import pretrained
    from .constraint import BfsConstraint
    from .datasets import load_dataset
    from .plot import draw_grid
    from .sampling import sample_graphs

    paths = []
    for name, checkpoint, rules in (("trees", "trees", {"tree": True}),
                                    ("community-small", "community-small", {"connected": True})):
        if name not in parts:
            continue
        pipe, data = pretrained(checkpoint), load_dataset(name, seed=seed)
        rows = [("real (test split)", data.test[:8]),
                ("generated, free", sample_graphs(pipe, 8, seed=seed + 1, measure=False).graphs),
                ("generated, constrained", sample_graphs(pipe, 8, seed=seed + 2, measure=False,
                 constraint=BfsConstraint.for_tokenizer(pipe.tokenizer, **rules)).graphs)]
        if name == "trees" and "blockwise" in parts:
            layers = pretrained("trees-layers")
            tok = layers.tokenizer
            sizes = [random.Random(seed).choice(data.train).n for _ in range(8)]
            out = arkit.generate_blocks(layers, LayerSchedule(tok), seed=seed + 3, max_blocks=tok.max_nodes + 1,
                                        prompt_ids=[[tok.special_tokens["bos"], tok.size_id(n)] for n in sizes])
            rows.append(("generated, block-wise", [tok.decode([t for b in r for t in b]) for r in out.blocks]))
        paths.append(str(draw_grid(rows, f"{folder}/{name}.png", seed=seed)))
    return paths


def print_report(report: dict[str, Any]) -> None:
    """The metrics table and the targets, as text."""
    columns = ("valid", "unique", "novel", "vun")
    stats = ("degree", "clustering", "spectral", "graphlet4")
    header = f"{'':<28}" + "".join(f"{c:>8}" for c in columns) + "".join(f"{s + ' MMD²':>17}" for s in stats)
    print(header)
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in ("trees", "community-small"):
        if name in report:
            rows += [(f"{name} free", report[name]["free"]), (f"{name} constrained", report[name]["constrained"])]
    if "blockwise" in report:
        rows.append(("trees block-wise", report["blockwise"]))
    for label, row in rows:
        cells = "".join(f"{row[c]:>8.3f}" for c in columns)
        cells += "".join(f"{row['mmd'][s]['mmd2']:>17.5f}" if s in row["mmd"] else f"{'-':>17}" for s in stats)
        print(f"{label:<28}{cells}")
    for name in ("trees", "community-small"):
        if name in report:
            mmd = report[name]["free"]["mmd"]
            floor = "".join(f"{mmd[s]['floor']:>17.5f}" if s in mmd else f"{'-':>17}" for s in stats)
            er = "".join(f"{mmd[s]['er']:>17.5f}" if s in mmd else f"{'-':>17}" for s in stats)
            h = report[name]["held_out"]
            print(f"{name + ' held-out test':<28}{h['valid']:>8.3f}{h['unique']:>8.3f}{h['novel']:>8.3f}{'':>8}{floor}"
                  f"   <- MMD: train-vs-test floor")
            print(f"{name + ' Erdős–Rényi':<28}{'':>32}{er}")
    community = report.get("community-small", {})
    if "mean_cut" in community.get("held_out", {}):
        cuts = {k: community[k]["mean_cut"] for k in ("free", "constrained", "held_out")}
        print(f"community-small, edges across a Kernighan-Lin bisection (mean): free {cuts['free']:.2f}, "
              f"constrained {cuts['constrained']:.2f}, held-out {cuts['held_out']:.2f}")
    if "atlas" in report:
        a = report["atlas"]
        print(f"\natlas ({a['classes']} connected {a['nodes']}-node graphs, {a['samples']} samples per run; "
              f"model TV to uniform {a['model_tv_to_uniform']:.3f}):")
        for name, r in a["runs"].items():
            print(f"  {name:<12} chi² {r['statistic']:8.2f} (dof {r['dof']})  p {r['p_value']:.3g}  "
                  f"batched calls {r['model_calls']}  tokens per row per call {r['tokens_per_row_call']:.2f}")
    if "blockwise" in report:
        b = report["blockwise"]
        print(f"\nblock-wise: {b['calls_per_graph']:.2f} model calls per tree vs {b['node_by_node_calls_per_graph']:.2f} "
              f"node by node ({b['call_reduction']:.2f}x fewer)")
    print("\ntargets:")
    for t in report["targets"]:
        value = t["value"]
        shown = f"{value:.5g}" if isinstance(value, float) and math.isfinite(value) else str(value)
        print(f"  [{'x' if t['met'] else ' '}] {t['name']}: {shown} (target {t['target']})")


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _check(args, ("steps", "samples"))
    results = run_demo(steps=args.steps, samples=args.samples, out_dir=args.out, seed=args.seed,
                       progress=not args.json)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print_report(results["report"])
    print(f"\ngrids: {', '.join(results['grids'])}   pipelines: {', '.join(results['pipelines'])}   "
          f"({results['elapsed_s']:.0f} s)")
    return 0
