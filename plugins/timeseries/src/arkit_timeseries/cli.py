"""``arkit timeseries eval``, ``archeck`` and ``demo``.

- ``eval [--json] [--series NAME ...] [--baselines ...] [--samples 20] [--plots DIR]``:
  the shipped ``timeseries/chronos-mini`` checkpoint (or ``--pipeline DIR``, or a fresh
  one trained from scratch with ``--train-steps N``) and the classical baselines on the
  held-out tails of the bundled series, in-domain and zero-shot groups apart, with the
  issue's ``targets`` and forecast PNGs (:func:`arkit_timeseries.evaluation.evaluate`).
- ``archeck [--json] [--steps N]``: the shipped model (and optionally a fresh one trained
  on AR series for ``N`` steps) against the optimal predictor of a known AR(3) process
  (:func:`arkit_timeseries.archeck.ar_check`).
- ``bench [--json]``: forecast throughput, torch vs onnxruntime, interleaved
  (:func:`arkit_timeseries.bench.bench`).
- ``demo [--steps 300] [--out DIR]``: pre-train a fresh ``timeseries/chronos-mini``
  for a bounded number of steps on KernelSynth plus the in-domain histories, forecast
  every held-out tail, print the metrics table and write one PNG per series
  (history, truth, median, 80 % band).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["arguments", "run"]


def arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="timeseries_command", required=True)
    ev = sub.add_parser("eval", help="relative MASE/WQL vs seasonal naive, model vs seasonal ARIMA, ETS, ...; "
                                     "in-domain and zero-shot")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument("--pipeline", help="a saved pipeline folder (default: the shipped chronos-mini)")
    ev.add_argument("--train-steps", type=int, default=0,
                    help="train a fresh chronos-mini from scratch for this many steps (the shipped recipe, "
                         "in-domain histories only) instead of loading a checkpoint")
    ev.add_argument("--no-detrend", action="store_true", help="forecast without the trend-aware scaling")
    ev.add_argument("--series", nargs="*", help="bundled series names (default: all)")
    ev.add_argument("--baselines", nargs="*", default=None,
                    help="any of seasonal-naive, seasonal-arima, arima, ets, linear-ar (default: all)")
    ev.add_argument("--plots", type=Path, default=Path("timeseries-eval"),
                    help="folder for the forecast PNGs (one per series, one grid per group)")
    ev.add_argument("--no-plots", action="store_true", help="write no PNGs")
    ev.add_argument("--samples", type=int, default=20, help="sample paths per series")
    ev.add_argument("--context", type=int, default=256, help="context plus horizon, in values (the training length)")
    ev.add_argument("--seed", type=int, default=0)
    ar = sub.add_parser("archeck", help="forecasts of a known AR(3) process vs its optimal predictor")
    ar.add_argument("--json", action="store_true", help="print the result as JSON")
    ar.add_argument("--steps", type=int, default=0,
                    help="also train a fresh chronos-mini on AR series for this many steps (0: shipped model only)")
    ar.add_argument("--seed", type=int, default=0)
    be = sub.add_parser("bench", help="forecast throughput (series*samples*steps per second), torch vs onnxruntime")
    be.add_argument("--json", action="store_true", help="print the result as JSON")
    be.add_argument("--series", type=int, default=8)
    be.add_argument("--samples", type=int, default=20)
    be.add_argument("--horizon", type=int, default=24)
    be.add_argument("--rounds", type=int, default=3)
    demo = sub.add_parser("demo", help="bounded pre-training, forecasts of every held-out tail, PNG plots")
    demo.add_argument("--steps", type=int, default=300, help="training steps (about 1 s each on one CPU thread)")
    demo.add_argument("--out", type=Path, default=Path("timeseries-demo"), help="folder for the PNGs")
    demo.add_argument("--samples", type=int, default=20)
    demo.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    if args.timeseries_command == "eval":
        return _eval(args)
    if args.timeseries_command == "archeck":
        return _archeck(args)
    if args.timeseries_command == "bench":
        from .bench import bench

        result = bench(series=args.series, num_samples=args.samples, horizon=args.horizon, rounds=args.rounds)
        print(json.dumps(result, indent=1) if args.json else
              f"torch {result['torch']['values_per_s']:.0f} values/s, onnxruntime "
              f"{result['onnxruntime']['values_per_s']:.0f} values/s (x{result['onnxruntime_speedup']:.2f}); "
              f"greedy identical: {result['greedy_identical']}")
        return 0
    return _demo(args)


def _eval(args: argparse.Namespace) -> int:
    import arkit
    from threadpoolctl import threadpool_limits

    from .baselines import BASELINES
    from .evaluation import evaluate, format_table, model_forecaster, targets
    from .presets import pretrained
    from .splits import splits

    baselines = list(BASELINES) if args.baselines is None else args.baselines
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise arkit.ConfigError(f"unknown baselines {sorted(unknown)}; choose from {list(BASELINES)}")
    if args.samples < 1 or args.context < 2 or args.train_steps < 0:
        raise arkit.ConfigError("need --samples >= 1, --context >= 2 and --train-steps >= 0")
    if args.pipeline and args.train_steps:
        raise arkit.ConfigError("give --pipeline or --train-steps, not both")
    chosen = splits(args.series or None)
    with threadpool_limits(limits=1):  # oversubscribed BLAS threads make ARIMA fits crawl on a shared machine
        if args.train_steps:
            pipe, source = _train_from_scratch(args.train_steps, args.seed, progress=not args.json), \
                f"trained from scratch for {args.train_steps} steps"
        elif args.pipeline:
            pipe, source = arkit.Pipeline.from_pretrained(args.pipeline), args.pipeline
        else:
            pipe, source = pretrained(), "shipped timeseries/chronos-mini"
        model = model_forecaster(pipe, num_samples=args.samples, context_length=args.context, seed=args.seed,
                                 batch=chosen, detrend=not args.no_detrend)
        forecasts: dict = {}
        result = evaluate({"chronos-mini": model}, names=[s.name for s in chosen], baselines=baselines,
                          progress=not args.json, quantiles_out=forecasts)
    result["config"] = {"pipeline": source, "samples": args.samples, "context": args.context, "seed": args.seed,
                        "detrend": not args.no_detrend, "parameters": pipe.num_parameters,
                        "baselines": baselines}
    result["targets"] = targets(result, "chronos-mini")
    result["met"] = bool(result["targets"]) and all(t["met"] for t in result["targets"])
    if not args.no_plots:
        result["plots"] = _plots(args.plots, chosen, forecasts, result)
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


def _train_from_scratch(steps: int, seed: int, *, progress: bool) -> object:
    """A fresh ``timeseries/chronos-mini`` trained with the shipped recipe on the in-domain histories."""
    import arkit
    import torch

    from .splits import in_domain, splits
    from .training import RECIPE, pretrain

    torch.manual_seed(seed)
    pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    pretrain(pipe, [s.history for s in splits(in_domain())], steps=steps, seed=seed, progress=progress, **RECIPE)
    return pipe


def _plots(folder: Path, chosen: list, forecasts: dict, result: dict) -> list[str]:
    """One PNG per series and one grid per group: the model's median and 80 % band, seasonal ARIMA's median."""
    from .metrics import QUANTILES
    from .plot import Panel, plot_forecast, plot_grid

    compare = "seasonal-arima" if "seasonal-arima" in result["aggregate"] else None
    written, panels = [], {}
    for s in chosen:
        q = forecasts[s.name]["chronos-mini"]
        other = forecasts[s.name][compare][QUANTILES.index(0.5)] if compare else None
        group = result["series"][s.name]["group"]
        path = plot_forecast(folder / f"{s.name.replace('/', '-')}.png", s.history, s.truth, q, QUANTILES,
                             title=f"{s.name} ({group})", compare=other, label="chronos-mini",
                             compare_label=f"{compare} median")
        written.append(str(path))
        panels.setdefault(group, []).append(Panel(title=s.name, history=s.history, truth=s.truth, quantiles=q,
                                                  compare=other))
    for group, items in panels.items():
        path = plot_grid(folder / f"{group}.png", items, QUANTILES, label="chronos-mini",
                         compare_label=f"{compare} median", title=f"chronos-mini, {group} series")
        written.append(str(path))
    return written


def _archeck(args: argparse.Namespace) -> int:
    import arkit
    import torch

    from .archeck import ar_check, simulate_ar
    from .presets import pretrained
    from .training import pretrain

    result = {"shipped": ar_check(pretrained(), seed=args.seed)}
    if args.steps > 0:
        torch.manual_seed(args.seed)
        pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
        pretrain(pipe, list(simulate_ar(200, 512, seed=args.seed + 100)), steps=args.steps, real_share=1.0,
                 seed=args.seed, progress=not args.json)
        result[f"trained_{args.steps}_steps"] = ar_check(pipe, seed=args.seed)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for name, r in result.items():
            print(f"{name}: optimal RMSE {r['optimal_rmse']:.3f}; model {r['model']['rmse']:.3f} "
                  f"(gap {r['model']['gap']:+.1%}); linear AR {r['linear-ar']['rmse']:.3f} (gap {r['linear-ar']['gap']:+.1%})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    import arkit
    import torch

    from .evaluation import evaluate, format_table, model_forecaster
    from .forecast import forecast
    from .plot import plot_forecast
    from .splits import in_domain, splits
    from .training import RECIPE, pretrain

    torch.manual_seed(args.seed)
    pipe = arkit.Pipeline.from_preset("timeseries/chronos-mini")
    chosen = splits()
    pretrain(pipe, [s.history for s in splits(in_domain())], steps=args.steps, seed=args.seed, **RECIPE)
    result = evaluate({"demo-model": model_forecaster(pipe, num_samples=args.samples, context_length=256,
                                                      seed=args.seed, batch=chosen)},
                      baselines=("linear-ar",), progress=True)
    print(format_table(result))
    args.out.mkdir(parents=True, exist_ok=True)
    for s in chosen:
        out = forecast(pipe, [s.history], s.horizon, num_samples=args.samples, seed=args.seed,
                       context_length=256 - s.horizon, detrend=True, lower=0.0 if s.series.nonnegative else None)
        path = args.out / f"{s.name.replace('/', '-')}.png"
        plot_forecast(path, s.history, s.truth, out.quantiles[0], out.quantile_levels, title=s.name)
    print(f"wrote {len(chosen)} plots to {args.out}")
    return 0
