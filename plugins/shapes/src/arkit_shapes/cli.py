"""``arkit shapes {eval,demo}``: the plugin's subcommands (registered by ``arkit_register_commands``)."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="shapes_command", metavar="{eval,demo}")
    ev = sub.add_parser("eval", help="the shipped models against real primitives: validity, COV/MMD/1-NNA next to "
                                     "the real-vs-real floor, class accuracy, octree calls per level")
    ev.add_argument("--samples", type=int, default=100, help="unconditioned samples for validity (default 100)")
    ev.add_argument("--reference", type=int, default=60,
                    help="generated and test shapes compared for COV/MMD/1-NNA (default 60, as the floor's probe)")
    ev.add_argument("--per-class", type=int, default=20, help="guided samples per class (default 20)")
    ev.add_argument("--guidance", type=float, default=2.0, help="classifier-free guidance scale (default 2.0)")
    ev.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling (default 0.9, as PolyGen)")
    ev.add_argument("--out", default=None, help="folder for .obj/.glb samples and the PNG grids (default: none)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    de = sub.add_parser("demo", help="train a small model in bounded steps, sample, print the table, write files")
    de.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    de.add_argument("--train", type=int, default=1000, help="training shapes (default 1000)")
    de.add_argument("--pretrained", action="store_true", help="use the shipped polygen-mini instead of training")
    de.add_argument("--samples", type=int, default=40, help="unconditioned samples (default 40)")
    de.add_argument("--per-class", type=int, default=5, help="guided samples per class (default 5)")
    de.add_argument("--guidance", type=float, default=2.0)
    de.add_argument("--out", default="shapes-demo", help="folder for the meshes and PNG grids (default ./shapes-demo)")
    de.add_argument("--seed", type=int, default=0)
    de.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    parser.set_defaults(shapes_parser=parser)


def run(args: argparse.Namespace) -> int:
    import arkit

    command = getattr(args, "shapes_command", None)
    if command is None:
        args.shapes_parser.print_help()
        return 0
    if not 0.0 < getattr(args, "top_p", 1.0) <= 1.0:
        raise arkit.ConfigError(f"--top-p must be in (0, 1], got {args.top_p}")
    from .demo import demo, table

    if command == "eval":
        from .evaluation import evaluate

        report = evaluate(samples=args.samples, reference=args.reference, per_class=args.per_class,
                          guidance_scale=args.guidance, top_p=args.top_p, seed=args.seed, out_dir=args.out)
    else:
        report = demo(args.out, steps=args.steps, train=args.train, pretrained=args.pretrained, samples=args.samples,
                      per_class=args.per_class, guidance_scale=args.guidance, seed=args.seed, progress=not args.json)
    print(json.dumps(report, indent=2) if args.json else table(report))
    return 0
