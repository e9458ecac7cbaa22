"""``arkit vision {eval,bench,demo}``: the plugin's subcommands (registered by ``arkit_register_commands``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="vision_command", metavar="{eval,bench,demo}")
    ev = sub.add_parser("eval", help="train the digit and shapes models briefly; sample quality, bits, next-scale")
    ev.add_argument("--datasets", default="digits,shapes",
                    help="comma-separated sections to run: digits, shapes (default both)")
    ev.add_argument("--samples", type=int, default=500, help="generated digits per model (default 500)")
    ev.add_argument("--steps", type=int, default=1200, help="training steps per digit model (default 1200)")
    ev.add_argument("--guidance", type=float, default=1.25, help="classifier-free guidance scale, digits (default 1.25)")
    ev.add_argument("--shapes-samples", type=int, default=200, help="generated shapes per model (default 200)")
    ev.add_argument("--shapes-steps", type=int, default=1000, help="training steps per shapes model (default 1000)")
    ev.add_argument("--shapes-train", type=int, default=2000, help="training shapes (default 2000; valid 200, test 400)")
    ev.add_argument("--shapes-tokenizer-steps", type=int, default=400,
                    help="VQ fitting steps per shapes tokenizer (default 400)")
    ev.add_argument("--shapes-warmup-steps", type=int, default=800,
                    help="autoencoder warm-up steps per shapes tokenizer, before the VQ fit (default 800)")
    ev.add_argument("--shapes-codebook", type=int, default=64, help="codebook size of the shapes tokenizers (default 64)")
    ev.add_argument("--shapes-guidance", type=float, default=1.5, help="guidance scale, shapes (default 1.5)")
    ev.add_argument("--seed", type=int, default=0)
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


def _datasets(value: str) -> tuple[str, ...]:
    import arkit

    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [name for name in names if name not in _DATASETS]
    if not names or unknown:
        raise arkit.ConfigError(f"--datasets takes a comma-separated list of {', '.join(_DATASETS)}; got {value!r}")
    return names


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
        from .evaluation import evaluate, evaluate_shapes
        from .recipes import SHAPES_MODEL

        _positive(args, "samples", "steps", "shapes_samples", "shapes_steps", "shapes_train",
                  "shapes_tokenizer_steps", "shapes_warmup_steps")
        if args.shapes_codebook < 2:
            import arkit

            raise arkit.ConfigError(f"--shapes-codebook must be at least 2, got {args.shapes_codebook}")
        report = {}
        for name in _datasets(args.datasets):
            if name == "digits":
                report["digits"] = evaluate(samples=args.samples, guidance_scale=args.guidance, seed=args.seed,
                                            size=attrs.evolve(ModelSize(), steps=args.steps, seed=args.seed),
                                            progress=not args.json)
            else:
                report["shapes"] = evaluate_shapes(
                    samples=args.shapes_samples, guidance_scale=args.shapes_guidance, train=args.shapes_train,
                    codebook_size=args.shapes_codebook, tokenizer_steps=args.shapes_tokenizer_steps,
                    warmup_steps=args.shapes_warmup_steps, seed=args.seed,
                    size=attrs.evolve(SHAPES_MODEL, steps=args.shapes_steps, seed=args.seed), progress=not args.json)
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
