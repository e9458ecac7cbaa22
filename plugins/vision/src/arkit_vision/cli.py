"""``arkit vision {eval,bench,demo}``: the plugin's subcommands (registered by ``arkit_register_commands``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vision_command", metavar="{eval,bench,demo}")
    ev = sub.add_parser("eval", help="the shipped digit and shapes models against real images, over 3 seeds, "
                                     "with pass/fail targets (LANTERN included)")
    ev.add_argument("--sections", default="digits,shapes,lantern",
                    help="comma-separated parts to run: digits, shapes, lantern (default all)")
    ev.add_argument("--models", default=None,
                    help="comma-separated subset of digits_raster, digits_next_scale, shapes_raster, "
                         "shapes_next_scale (default all)")
    ev.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1; figures are their mean and spread (default 3)")
    ev.add_argument("--samples", type=int, default=500, help="generated digits per model and seed (default 500)")
    ev.add_argument("--shapes-samples", type=int, default=200, help="generated shapes per model and seed (default 200)")
    ev.add_argument("--lantern-images", type=int, default=300,
                    help="shapes decoded one at a time per speculative method and seed (default 300)")
    ev.add_argument("--lantern-delta", type=float, default=0.3, help="LANTERN total-variation budget (default 0.3)")
    ev.add_argument("--lantern-neighbours", type=int, default=8, help="LANTERN neighbourhood size (default 8)")
    ev.add_argument("--lantern-draft-tokens", type=int, default=8, help="draft tokens per target call (default 8)")
    ev.add_argument("--from-scratch", action="store_true",
                    help="train every model (and the CNN judges) anew per seed instead of loading the shipped "
                         "checkpoints (about an hour per seed on one CPU thread)")
    ev.add_argument("--grids", default=None, help="folder for a PNG grid of each model's samples (first seed)")
    ev.add_argument("--json", action="store_true", help="print the report as JSON")
    be = sub.add_parser("bench", help="speculative decoding of image tokens: exact vs LANTERN vs SJD")
    be.add_argument("--dataset", choices=("shapes", "digits"), default="shapes",
                    help="shapes: 32x32 RGB through a learned vision/vq tokenizer (default); digits: pixel levels")
    be.add_argument("--images", type=int, default=100, help="images per method, decoded one at a time (default 100)")
    be.add_argument("--steps", type=int, default=None,
                    help="training steps of the target (default: 1000 for shapes, 1200 for digits)")
    be.add_argument("--draft-steps", type=int, default=600, help="training steps of the draft model (default 600)")
    be.add_argument("--draft-tokens", type=int, default=4, help="draft tokens per target call (default 4)")
    be.add_argument("--guidance", type=float, default=1.5, help="classifier-free guidance scale (default 1.5)")
    be.add_argument("--codebook", type=int, default=256, help="codebook size of the shapes tokenizer (default 256)")
    be.add_argument("--delta", type=float, default=0.4, help="LANTERN total-variation budget (default 0.4)")
    be.add_argument("--neighbours", type=int, default=8, help="LANTERN latent neighbourhood size (default 8)")
    be.add_argument("--seed", type=int, default=0)
    be.add_argument("--json", action="store_true", help="print the report as JSON")
    de = sub.add_parser("demo", help="train, write PNG grids per decoding method, print a table")
    de.add_argument("--steps", type=int, default=600,
                    help="training steps per model (default 600); bounds every training loop of the demo: VQ "
                         "tokenizers fit for min(steps, 400) steps, after min(steps, 800) warm-up steps (shapes)")
    de.add_argument("--per-class", type=int, default=8, help="digits per class in each grid (default 8)")
    de.add_argument("--guidance", type=float, default=1.25)
    de.add_argument("--out", default="vision-demo", help="folder for the PNG grids (default ./vision-demo)")
    de.add_argument("--datasets", default="digits,shapes",
                    help="comma-separated grids to make: digits, shapes (default both)")
    de.add_argument("--seed", type=int, default=0)
    parser.set_defaults(vision_parser=parser)


def _positive(args: argparse.Namespace, *names: str) -> None:
    import arkit

    for name in names:
        value = getattr(args, name)
        if value < 1:
            raise arkit.ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


_DATASETS = ("digits", "shapes")
_MODELS = ("digits_raster", "digits_next_scale", "shapes_raster", "shapes_next_scale")


def _names(value: str, known: tuple[str, ...], flag: str) -> tuple[str, ...]:
    import arkit

    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in known]
    if not names or unknown:
        raise arkit.ConfigError(f"{flag} takes a comma-separated list of {', '.join(known)}; got {value!r}")
    return names


def _datasets(value: str) -> tuple[str, ...]:
    return _names(value, _DATASETS, "--datasets")


def _print(report: Any, prefix: str = "") -> None:
    for key, value in report.items():
        if key == "targets" and isinstance(value, list):
            print(f"{prefix}targets:")
            for t in value:
                print(f"{prefix}  [{'met' if t['met'] else 'NOT MET'}] {t['name']}: {t['value']} (limit {t['target']})")
        elif isinstance(value, dict) and set(value) == {"mean", "std", "per_seed"}:
            print(f"{prefix}{key}: {value['mean']} ± {value['std']} (seeds: {value['per_seed']})")
        elif isinstance(value, dict):
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
        from .evaluation import SECTIONS, evaluate

        _positive(args, "seeds", "samples", "shapes_samples", "lantern_images", "lantern_neighbours",
                  "lantern_draft_tokens")
        sections = _names(args.sections, SECTIONS, "--sections")
        models = None if args.models is None else _names(args.models, _MODELS, "--models")
        report = evaluate(sections=sections, seeds=range(args.seeds), samples=args.samples,
                          shapes_samples=args.shapes_samples, lantern_images=args.lantern_images,
                          lantern_delta=args.lantern_delta, lantern_neighbours=args.lantern_neighbours,
                          lantern_draft_tokens=args.lantern_draft_tokens, models=models,
                          from_scratch=args.from_scratch, grids=args.grids, progress=not args.json)
    elif command == "bench":
        from .bench import SHAPES_TARGET, benchmark

        _positive(args, "images", "draft_steps", "draft_tokens", "neighbours", "codebook")
        size = None
        if args.steps is not None:
            _positive(args, "steps")
            size = attrs.evolve(SHAPES_TARGET if args.dataset == "shapes" else ModelSize(), steps=args.steps,
                                seed=args.seed)
        report = benchmark(dataset=args.dataset, images=args.images, num_draft_tokens=args.draft_tokens,
                           delta=args.delta, neighbours=args.neighbours, guidance_scale=args.guidance,
                           codebook_size=args.codebook, draft_steps=args.draft_steps, seed=args.seed, size=size,
                           progress=not args.json)
    else:
        from .demo import demo

        _positive(args, "steps", "per_class")
        table = demo(args.out, steps=args.steps, per_class=args.per_class, guidance_scale=args.guidance, seed=args.seed,
                     datasets=_datasets(args.datasets))
        print(f"{'method':<26}{'calls/image':>12}{'ms/image':>10}{'accuracy':>10}  grid")
        for row in table:
            print(f"{row['method']:<26}{row['model_calls_per_image']:>12}{row['ms_per_image']:>10}{row['accuracy']:>10}  {row['grid']}")
        return 0
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0
