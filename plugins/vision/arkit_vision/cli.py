"""``arkit vision {eval,bench,demo}``: the plugin's subcommands (registered by ``arkit_register_commands``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vision_command", metavar="{eval,bench,demo}")
    ev = sub.add_parser("eval", help="train the digit models briefly; sample quality, bits per pixel, next-scale")
    ev.add_argument("--samples", type=int, default=500, help="generated digits per model (default 500)")
    ev.add_argument("--steps", type=int, default=1200, help="training steps per model (default 1200)")
    ev.add_argument("--guidance", type=float, default=1.25, help="classifier-free guidance scale (default 1.25)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    be = sub.add_parser("bench", help="speculative decoding of image tokens: exact vs LANTERN vs SJD")
    be.add_argument("--images", type=int, default=100, help="digits per method, decoded one at a time (default 100)")
    be.add_argument("--steps", type=int, default=1200, help="training steps of the target (default 1200)")
    be.add_argument("--draft-tokens", type=int, default=4, help="draft tokens per target call (default 4)")
    be.add_argument("--delta", type=float, default=0.4, help="LANTERN total-variation budget (default 0.4)")
    be.add_argument("--neighbours", type=int, default=4, help="LANTERN latent neighbourhood size (default 4)")
    be.add_argument("--seed", type=int, default=0)
    be.add_argument("--json", action="store_true", help="print the report as JSON")
    de = sub.add_parser("demo", help="train, write PNG grids per decoding method, print a table")
    de.add_argument("--steps", type=int, default=600, help="training steps per model (default 600)")
    de.add_argument("--per-class", type=int, default=8, help="digits per class in each grid (default 8)")
    de.add_argument("--guidance", type=float, default=1.25)
    de.add_argument("--out", default="vision-demo", help="folder for the PNG grids (default ./vision-demo)")
    de.add_argument("--seed", type=int, default=0)
    parser.set_defaults(vision_parser=parser)


def _positive(args: argparse.Namespace, *names: str) -> None:
    import arkit

    for name in names:
        value = getattr(args, name)
        if value < 1:
            raise arkit.ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def _print(report: Any, prefix: str = "") -> None:
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{prefix}{key}:")
            _print(value, prefix + "  ")
        else:
            print(f"{prefix}{key}: {value}")


def run(args: argparse.Namespace) -> int:
    import attrs

    from .recipes import ModelSize

    command = getattr(args, "vision_command", None)
    if command is None:
        args.vision_parser.print_help()
        return 0
    if command == "eval":
        from .evaluation import evaluate

        _positive(args, "samples", "steps")
        report = evaluate(samples=args.samples, guidance_scale=args.guidance, seed=args.seed,
                          size=attrs.evolve(ModelSize(), steps=args.steps, seed=args.seed), progress=not args.json)
    elif command == "bench":
        from .bench import benchmark

        _positive(args, "images", "steps", "draft_tokens", "neighbours")
        report = benchmark(images=args.images, num_draft_tokens=args.draft_tokens, delta=args.delta,
                           neighbours=args.neighbours, seed=args.seed,
                           size=attrs.evolve(ModelSize(), steps=args.steps, seed=args.seed), progress=not args.json)
    else:
        from .demo import demo

        _positive(args, "steps", "per_class")
        table = demo(args.out, steps=args.steps, per_class=args.per_class, guidance_scale=args.guidance, seed=args.seed)
        print(f"{'method':<20}{'calls/image':>12}{'ms/image':>10}{'accuracy':>10}  grid")
        for row in table:
            print(f"{row['method']:<20}{row['model_calls_per_image']:>12}{row['ms_per_image']:>10}{row['accuracy']:>10}  {row['grid']}")
        return 0
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0
