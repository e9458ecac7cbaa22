"""The ``arkit`` command line.

    arkit --version
    arkit plugins [--json] [--check]
    arkit components [--kind KIND] [--json]
    arkit presets [--json]
    arkit generate PIPELINE_DIR --prompt TEXT [--prompt TEXT ...] [--max-new-tokens N] [--seed S] [--json]
    arkit generate --onnx EXPORT_DIR --prompt TEXT ...
    arkit export PIPELINE_DIR OUT_DIR [--opset N] [--dtype float32|float16|int8] [--[no-]decode-graph]
                 [--format arkit|genai|triton]
                 [--no-validate] [--json]
    arkit demo [--steps N] [--out DIR] [--threads N] [--seed S] [--json]
    arkit new-plugin NAME [--kinds tokenizer,sampler,constraint] [--out DIR] [--json]
    arkit train CONFIG [--resume] [--json]
    arkit bench decode [--json] [--sizes small,gpt2] [--repeats N]
    arkit bench train [--json] [--sizes small,gpt2] [--steps N] [--repeats N] [--threads N]
    arkit bench speculative [--json] [--quick] [--repeats N]
    arkit bench onnx [--json] [--sizes small,gpt2] [--repeats N] [--threads N]
    arkit bench lossless [--json]

Plugins add subcommands through the ``arkit_register_commands`` hook. Errors that
arkit raises on purpose are printed as ``arkit: error: ...`` (exit code 1), never
as a traceback.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
import contextlib
import json
import os
from pathlib import Path
import re
import shutil
import sys
import textwrap
from typing import Any
import warnings

from ._version import __version__
from .errors import ArkitError, ArkitPluginWarning, ArkitWarning, ConfigError, InputError, PluginLoadError
from .types import KINDS

BUILTIN_COMMANDS = ("plugins", "components", "presets", "generate", "export", "demo", "new-plugin", "train", "bench")


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _table(rows: list[list[str]], header: list[str], *, wide: bool = True) -> str:
    """Aligned columns. Unless ``wide``, the last column is shortened at a word boundary (with "...") to fit
    the terminal, whose width comes from ``COLUMNS`` or the terminal itself (80 when there is none)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    if not wide and rows:
        room = shutil.get_terminal_size().columns - sum(w + 2 for w in widths[:-1])
        room = max(room, 20)  # a very narrow terminal wraps rather than showing nothing
        rows = [[*row[:-1], textwrap.shorten(str(row[-1]), room, placeholder="...")] for row in rows]
        widths[-1] = max(len(str(r[-1])) for r in [header, *rows])
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _plain(text: str) -> str:
    """A docstring line for a terminal: reStructuredText ``literals`` and :role:`targets` as plain text."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"\1", text)
    return text.replace("``", "")


# -- built-in commands --------------------------------------------------------------
#: Plugins whose ``arkit_register_commands`` hook failed in this run: name -> error (their components still load).
_COMMAND_ERRORS: dict[str, str] = {}


def _cmd_plugins(args: argparse.Namespace) -> int:
    from .registry import list_plugins

    plugins = list_plugins()
    examples: dict[str, str] = {}
    if args.check:
        from .registry import example_errors

        examples = example_errors()
    errors = {p.name: p.error or _COMMAND_ERRORS.get(p.name) or examples.get(p.name) for p in plugins}
    if args.json:
        _print_json([
            {"name": p.name, "distribution": p.distribution, "version": p.version, "builtin": p.builtin,
             "components": list(p.components), "presets": list(p.presets), "error": errors[p.name]}
            for p in plugins
        ])
    else:
        rows = [[p.name, p.distribution or "-", p.version or "-", "yes" if p.builtin else "no",
                 str(len(p.components)), "ERROR: " + errors[p.name] if errors[p.name] else "ok"] for p in plugins]
        print(_table(rows, ["plugin", "distribution", "version", "builtin", "components", "status"]))
    failed = sorted(name for name, error in errors.items() if error)
    if args.check and failed:
        sys.stdout.flush()
        print(f"arkit: {len(failed)} plugin(s) failed: {', '.join(failed)} (their errors are listed above)",
              file=sys.stderr)
        return 1
    return 0


def _cmd_components(args: argparse.Namespace) -> int:
    from .registry import list_components

    components = list_components(args.kind, pattern=args.pattern)
    if args.json:
        _print_json([
            {"kind": c.kind, "name": c.name, "plugin": c.plugin, "distribution": c.distribution,
             "version": c.version, "description": c.description}
            for c in components
        ])
        return 0
    print(_table([[c.kind, c.name, c.plugin, _plain(c.description)] for c in components],
                 ["kind", "name", "plugin", "description"], wide=args.wide))
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    from .registry import list_presets

    presets = list_presets()
    if args.json:
        _print_json([{"name": p.name, "plugin": p.plugin, "description": p.description, "base": p.base,
                      "components": {role: {"name": ref, "config": cfg} for role, (ref, cfg) in p.components.items()}}
                     for p in presets])
        return 0
    print(_table([[p.name, p.plugin, _plain(p.description)] for p in presets], ["preset", "plugin", "description"],
                 wide=args.wide))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    import torch

    from .onnx import export
    from .pipeline import Pipeline

    torch.set_num_threads(1)
    if args.format != "arkit":
        return _export_for_runtime(args)
    report = export(Pipeline.from_pretrained(args.pipeline), args.out, opset=args.opset, dtype=args.dtype,
                    validate=not args.no_validate, decode_graph=args.decode_graph)
    summary = {"directory": str(report.directory), "opset": report.opset, "dtype": report.dtype,
               "decode_graph": report.decode_graph,
               "export_s": report.export_s, "max_abs_logit_diff": report.max_abs_logit_diff,
               "cases": list(report.cases)}
    if args.json:
        _print_json(summary)
        return 0
    parity = ("not validated" if report.max_abs_logit_diff is None
              else f"max |logit difference| vs torch {report.max_abs_logit_diff:.2e} over {len(report.cases)} cases")
    graphs = "step and decode graphs" if report.decode_graph else "step graph"
    print(f"exported to {report.directory} ({graphs}, opset {report.opset}, {report.dtype}, "
          f"{report.export_s:.1f} s); {parity}")
    return 0


def _export_for_runtime(args: argparse.Namespace) -> int:
    """``arkit export --format genai|triton``: a folder for onnxruntime-genai, or a Triton model repository."""
    from .errors import ConfigError
    from .pipeline import Pipeline

    if args.decode_graph:
        raise ConfigError(f"--decode-graph belongs to the arkit format; --format {args.format} does not use it")
    if args.format == "genai":
        from .onnx import export_genai

        if args.dtype != "float32":
            raise ConfigError(f"--format genai exports float32 in this release, not {args.dtype}")
        report = export_genai(Pipeline.from_pretrained(args.pipeline), args.out, opset=args.opset,
                              validate=not args.no_validate)
        summary = {"format": "genai", "directory": str(report.directory), "export_s": report.export_s,
                   "tokenizer": report.tokenizer, "cases": list(report.cases)}
        checked = (f"onnxruntime-genai's greedy tokens equal torch's in {len(report.cases)} cases" if report.cases
                   else "not validated")
        line = (f"exported for onnxruntime-genai to {report.directory} ({report.export_s:.1f} s; "
                f"{'tokenizer.json' if report.tokenizer else 'no tokenizer: feed token ids, see README.md'}); {checked}")
    else:
        from .onnx import export_triton

        report = export_triton(Pipeline.from_pretrained(args.pipeline), args.out, opset=args.opset, dtype=args.dtype,
                               validate=not args.no_validate)
        summary = {"format": "triton", "directory": str(report.directory), "model_name": report.model_name,
                   "configs": list(report.configs), "max_abs_logit_diff": report.max_abs_logit_diff}
        parity = ("not validated" if report.max_abs_logit_diff is None
                  else f"max |logit difference| vs torch {report.max_abs_logit_diff:.2e}")
        line = (f"Triton model repository in {report.directory} (model {report.model_name!r}: "
                f"{', '.join(report.configs)}, parsed with tritonclient's model_config); {parity}")
    if args.json:
        _print_json(summary)
    else:
        print(line)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    import secrets

    import torch

    from .pipeline import Pipeline

    torch.set_num_threads(args.threads)
    if args.onnx:
        from .onnx import OrtPipeline

        pipe = OrtPipeline.from_pretrained(args.pipeline, threads=args.threads)
    else:
        if (Path(args.pipeline) / "onnx.json").is_file():
            raise InputError(f"{args.pipeline} is an ONNX export (it holds onnx.json): add --onnx to run it in "
                             f"onnxruntime, or give the folder written by save_pretrained")
        pipe = Pipeline.from_pretrained(args.pipeline)
    sampler = _sampler_from_flags(args)
    if sampler is not None:
        pipe = pipe.replace(sampler=sampler)
    seed = args.seed
    if seed is None and not pipe.sampler.deterministic:
        seed = secrets.randbelow(2**31)
        print(f"arkit: sampling with seed {seed} (pass --seed {seed} to repeat it)", file=sys.stderr)
    extras = dict(_load_extra_input(spec) for spec in args.extra_input)
    out = pipe.generate(args.prompt, max_new_tokens=args.max_new_tokens, seed=seed, extra_inputs=extras)
    if args.json:
        _print_json({"prompts": args.prompt, "decoded": list(out.decoded), "sequences": [list(s) for s in out.sequences],
                     "finish_reasons": list(out.finish_reasons), "num_steps": out.num_steps, "seed": seed})
        return 0
    for prompt, text in zip(args.prompt, out.decoded):
        print(f"{prompt}{text}")
    sys.stdout.flush()
    for row, (tokens, reason, prompt) in enumerate(zip(out.sequences, out.finish_reasons, out.prompt_lengths)):
        note = ""
        if reason == "max_length":
            note = (f" ({prompt} prompt + {len(tokens)} generated tokens fill the backbone's "
                    f"{pipe.backbone.max_seq_len} positions; --max-new-tokens {args.max_new_tokens} was not reached)")
        print(f"arkit: row {row}: {len(tokens)} tokens, stopped by {_REASONS.get(reason, reason)}{note}",
              file=sys.stderr)
    return 0


_REASONS = {"eos": "the end-of-sequence token", "stop_sequence": "a stop sequence", "length": "--max-new-tokens",
            "max_length": "the model's context length", "constraint": "the constraint (the output is complete)"}


def _sampler_from_flags(args: argparse.Namespace) -> Any:
    """The sampler the flags ask for, or ``None`` to keep the pipeline's own."""
    from .registry import create

    chosen = {k: v for k, v in (("temperature", args.temperature), ("top_k", args.top_k), ("top_p", args.top_p))
              if v is not None}
    if args.greedy:
        if chosen:
            raise InputError(f"--greedy takes the most likely token; it does not combine with "
                             f"{', '.join('--' + k.replace('_', '-') for k in chosen)}")
        return create("sampler", "core/greedy")
    return create("sampler", "core/multinomial", **chosen) if chosen else None


def _load_extra_input(spec: str) -> tuple[str, Any]:
    """``NAME=FILE.npy`` -> ``(name, tensor)``."""
    import numpy as np
    import torch

    name, sep, path = spec.partition("=")
    if not sep or not name or not path:
        raise InputError(f"--extra-input takes NAME=FILE.npy, got {spec!r}")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"--extra-input {name}: cannot read {path} as a .npy array ({exc})") from None
    return name, torch.from_numpy(np.ascontiguousarray(array))


def _cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    log: Callable[[str], None] = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    summary = run_demo(args.out, steps=args.steps, threads=args.threads, seed=args.seed,
                       progress=not args.json, log=log)
    if args.json:
        _print_json(summary)
        return 0
    print()
    window = summary["loss_window"]
    loss = (f"training loss {summary['loss_first']:.2f} -> {summary['loss_last']:.2f} (means of the first and last "
            f"{window} steps; step 1: {summary['loss_step_1']:.2f})")
    held = summary["eval_losses"]
    held_out = "not measured"
    if held:
        held_out = (f"held-out loss {held[0][1]:.2f} (step {held[0][0]}) -> {held[-1][1]:.2f} (step {held[-1][0]}), "
                    f"on {summary['held_out_documents']} documents never trained on")
    print(f"trained {summary['parameters']:,} parameters for {summary['steps']} steps "
          f"({summary['train_tokens_per_s']:,.0f} tokens/s): {loss}")
    print("samples (seed fixed):")
    for text in summary["samples"].values():
        print(f"  {text!r}")
    ref = summary["reference"]
    print(f"the shipped reference model {ref['preset']} ({ref['parameters']:,} parameters), same prompts:")
    for text in ref["samples"].values():
        print(f"  {text!r}")
    spec = summary["speculative"]
    print(f"{spec['model']} greedy with {spec['drafter']}, on prompts whose answer quotes them:")
    for text in spec["answers"].values():
        print(f"  {text!r}")
    rows = [
        ("parameters", f"{summary['parameters']:,}"),
        ("training", f"{summary['steps']} steps, {summary['train_seconds']:.0f} s, "
                     f"{summary['train_tokens_per_s']:,.0f} tokens/s"),
        ("loss", loss),
        ("held-out", held_out),
        (f"{spec['model']} greedy, plain", f"{spec['plain_passes']} target passes, {spec['plain_seconds']:.2f} s"),
        (f"{spec['model']} greedy + {spec['drafter']}", f"{spec['target_passes']} target passes, {spec['speculative_seconds']:.2f} s, "
                                        f"{spec['mean_accepted_per_call']:.2f} tokens/pass, identical tokens: "
                                        f"{'yes' if spec['identical_to_plain_greedy'] else 'NO'}"),
        (f"{spec['drafter']} pays off?",
         f"{'yes' if spec['pays_off'] else 'no'}: a pass with drafts took {spec['speculative_ms_per_pass']:.2f} ms "
         f"against {spec['plain_ms_per_pass']:.2f} ms for a plain step, so it must keep more than "
         f"{spec['break_even_tokens_per_pass']:.2f} tokens per pass; it kept {spec['mean_accepted_per_call']:.2f}"
         + ("" if spec["pays_off"] else " (drafting pays off when answers repeat their context and on larger "
                                         "models, whose step costs more)")),
        ("saved, reloaded", f"identical tokens: {'yes' if summary['reload_identical_tokens'] else 'NO'} "
                            f"({summary['saved_to']})"),
        ("ONNX export", f"{summary['onnx']['export_seconds']:.1f} s, max |logit difference| "
                        f"{summary['onnx']['max_abs_logit_diff']:.1e}; onnxruntime greedy "
                        f"{summary['onnx']['onnxruntime_seconds']:.2f} s, identical tokens: "
                        f"{'yes' if summary['onnx']['identical_to_torch_greedy'] else 'NO'}"),
        ("loss curve", summary["loss_curve"] or "not written (pip install matplotlib)"),
    ]
    width = max(len(name) for name, _ in rows)
    print("summary:")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    ok = summary["reload_identical_tokens"] and spec["identical_to_plain_greedy"] and \
        summary["onnx"]["identical_to_torch_greedy"]
    return 0 if ok else 1


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from ._scaffold import write_plugin

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    path = write_plugin(args.name, args.out, kinds=kinds)
    if args.json:
        _print_json({"directory": str(path), "files": sorted(str(f.relative_to(path)) for f in path.rglob("*")
                                                            if f.is_file())})
        return 0
    print(f"wrote {path}: the plugin 'arkit-{args.name}' ({', '.join(kinds)}) with its contract tests. Next:")
    print(f"  cd {path} && pip install -e '.[test]' && arkit plugins --check && pytest")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .training.config_file import run_config

    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    summary = run_config(args.config, resume=args.resume, progress=not args.json, log=log)
    if args.json:
        _print_json(summary)
        return 0
    if summary["rank"] == 0:
        start, end = summary["resumed_from"], summary["steps"]
        steps = f"{end - start} steps" + (f" (steps {start + 1}-{end}, resumed from the checkpoint of step {start})"
                                          if start else "")
        print(f"trained {steps}: loss {summary['loss_first']:.3f} -> {summary['loss_last']:.3f}, "
              f"{summary['tokens_per_s']:,.0f} tokens/s")
        if summary["eval_losses"]:
            print(f"held-out loss: {summary['eval_losses'][-1][1]:.3f} at step {summary['eval_losses'][-1][0]}")
        print(f"pipeline saved to {summary['pipeline']}")
    return 0


def _print_targets(targets: list[dict[str, Any]]) -> None:
    for t in targets:
        ceiling = f"; ceiling {t['ceiling']}" if "ceiling" in t else ""
        print(f"{'met ' if t['met'] else 'MISS'} {t['name']}: {t['value']} (target {t['target']}{ceiling})")


def _cmd_bench(args: argparse.Namespace) -> int:
    if args.which == "lossless":
        from ._bench.lossless import run as run_lossless

        report = run_lossless(progress=lambda msg: print(msg, file=sys.stderr))
        _print_json(report)
        return 0 if report["all_lossless"] and report["lossy_control"]["rejected"] else 1
    if args.which == "train":
        from ._bench.train import SHAPES, run as run_train

        sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
        unknown = [s for s in sizes if s not in SHAPES]
        if unknown:
            raise ConfigError(f"unknown size(s) {unknown}; sizes are {list(SHAPES)}")
        report = run_train(sizes=sizes, steps=args.steps, repeats=args.repeats or 3, threads=args.threads,
                           progress=lambda msg: print(msg, file=sys.stderr))
        if args.json:
            _print_json(report)
        else:
            for r in report["results"]:
                print(f"{r['size']:6} {r['parameters']:>12,} params  fit {r['arkit_fit_tokens_per_s']:9.1f} tok/s  "
                      f"plain loop {r['plain_loop_tokens_per_s']:9.1f} tok/s  x{r['ratio_to_plain_loop']:.2f}")
        return 0
    if args.which == "speculative":
        from ._bench.speculative import run as run_speculative

        report = run_speculative(quick=args.quick, repeats=args.repeats, threads=args.threads,
                                 progress=lambda msg: print(msg, file=sys.stderr))
        if args.json:
            _print_json(report)
            return 0
        for r in report["results"]:
            peer = "" if "faster_than_peer" not in r else (
                f"  {'faster' if r['faster_than_peer'] else 'SLOWER'} than {r['peer']}")
            print(f"{r['drafter']:22} batch {r['batch']} {r['mode']:8} x{r['speedup']:.2f} vs plain  "
                  f"{r['mean_accepted_per_call']:.2f} tokens/call{peer}")
        _print_targets(report["targets"])
        for note in report["notes"]:
            print(f"note: {note}")
        return 0
    if args.which == "onnx":
        from ._bench.decode import SIZES as ONNX_SIZES
        from ._bench.onnx import run as run_onnx

        sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
        unknown = [s for s in sizes if s not in ONNX_SIZES]
        if unknown:
            raise ConfigError(f"unknown size(s) {unknown}; sizes are {list(ONNX_SIZES)}")
        report = run_onnx(sizes=sizes, repeats=args.repeats or 5, threads=args.threads,
                          progress=lambda msg: print(msg, file=sys.stderr))
        if args.json:
            _print_json(report)
            return 0
        for size, e in report["export"].items():
            graphs = "step+decode" if e["decode_graph"] else "step"
            print(f"{size:6} export {e['export_s']:6.1f} s  {e['parameters']:>12,} params  opset {e['opset']}  "
                  f"{graphs} graphs  max |logit diff| {e['max_abs_logit_diff']:.2e}  "
                  f"provider {report['providers'][size]}")
        peers = report.get("peers", {})
        for r in [*report["results"], *peers.get("results", [])]:
            print(f"{r['size']:6} batch {r['batch']}  {r['variant']:18} {r['tokens_per_s']:9.1f} tok/s  "
                  f"{r['ms_per_step']:7.3f} ms/step  x{r['ratio_to_best_torch']:.2f} vs best torch")
        for case, same in report["identical_tokens"].items():
            print(f"{case}: greedy tokens {'identical' if same else 'DIFFER'} (every variant)")
        for size, f in report["floor"].items():
            if "ort_over_floor" in f:
                print(f"{size:6} bandwidth floor {f['floor_ms_per_step']:.3f} ms/step: ORT x{f['ort_over_floor']}, "
                      f"torch x{f['torch_over_floor']}")
        _print_targets([*report["targets"], *peers.get("targets", [])])
        return 0
    if args.which == "decode":
        from ._bench.decode import SIZES, run

        sizes = tuple(s.strip() for s in args.sizes.split(",") if s.strip())
        unknown = [s for s in sizes if s not in SIZES]
        if unknown:
            raise ConfigError(f"unknown size(s) {unknown}; sizes are {list(SIZES)}")
        report = run(sizes=sizes, repeats=args.repeats or 5, threads=args.threads,
                     progress=lambda msg: print(msg, file=sys.stderr))
    if args.json:
        _print_json(report)
    else:
        for r in report["results"]:
            print(f"{r['size']:6} batch {r['batch']}  {r['variant']:14} {r['tokens_per_s']:9.1f} tok/s  "
                  f"{r['ms_per_step']:7.3f} ms/step  x{r['ratio_to_transformers']:.2f} vs transformers")
        _print_targets(report["targets"])
    return 0


# -- parser -------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="arkit", description="Autoregressive generation in any domain.")
    parser.add_argument("--version", action="version", version=f"arkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list plugins, their components and load errors")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--check", action="store_true",
                   help="also check every tokenizer's registered examples; exit with status 1 when any plugin "
                        "failed (for CI)")
    p.set_defaults(run=_cmd_plugins)

    p = sub.add_parser("components", help="list registered components")
    p.add_argument("--kind", choices=KINDS, help="only this kind")
    p.add_argument("--pattern", default="*", help="shell-style pattern on names, e.g. 'core/*'")
    p.add_argument("--wide", action="store_true", help="full descriptions, whatever the terminal's width")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_components)

    p = sub.add_parser("presets", help="list pipeline presets")
    p.add_argument("--wide", action="store_true", help="full descriptions, whatever the terminal's width")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_presets)

    p = sub.add_parser("generate", help="generate with a saved pipeline")
    p.add_argument("pipeline", help="folder written by save_pretrained (or a Hub repo id), or by export with --onnx")
    p.add_argument("--onnx", action="store_true", help="the folder is an ONNX export: run it in onnxruntime")
    p.add_argument("--prompt", action="append", required=True, help="a prompt (repeat for a batch)")
    p.add_argument("--max-new-tokens", type=int, default=64,
                   help="most tokens per prompt (default 64; the model's context length also bounds it)")
    p.add_argument("--seed", type=int, default=None,
                   help="sampling seed (default: a fresh one, printed on stderr so that a run can be repeated)")
    p.add_argument("--greedy", action="store_true", help="take the most likely token (replaces the saved sampler)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sample at this temperature (replaces the saved sampler with core/multinomial; default 1 "
                        "when --top-k or --top-p is given)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens (core/multinomial)")
    p.add_argument("--top-p", type=float, default=None,
                   help="sample among the most likely tokens holding probability p (core/multinomial)")
    p.add_argument("--extra-input", action="append", default=[], metavar="NAME=FILE.npy",
                   help="an extra backbone input (e.g. conditioning=speakers.npy): one row per prompt; repeatable")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_generate)

    p = sub.add_parser("export", help="export a saved pipeline to ONNX (validated against torch)")
    p.add_argument("pipeline", help="folder written by save_pretrained, or a Hub repo id")
    p.add_argument("out", help="output folder (created, or replaced if it holds an earlier export)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--dtype", choices=("float32", "float16", "int8"), default="float32",
                   help="float16 for GPUs; int8 (dynamic weight quantisation) for CPUs; parity is reported")
    p.add_argument("--decode-graph", action=argparse.BooleanOptionalAction, default=None,
                   help="add (or leave out) the fused single-position decode graph; default: added for float32 "
                        "and int8 exports of core/transformer")
    p.add_argument("--no-validate", action="store_true", help="skip the onnxruntime-vs-torch parity check")
    p.add_argument("--format", choices=("arkit", "genai", "triton"), default="arkit",
                   help="arkit: a folder OrtPipeline runs (default); genai: a folder onnxruntime-genai runs with its "
                        "own Generator; triton: a Triton model repository (onnxruntime backend)")
    p.add_argument("--json", action="store_true", help="print the export report as JSON")
    p.set_defaults(run=_cmd_export)

    p = sub.add_parser("demo", help="train a small model, generate, save, reload (end to end)")
    p.add_argument("--steps", type=int, default=600, help="training steps (default 600, about 90 s on one core)")
    p.add_argument("--out", default="arkit-demo", help="output folder (default ./arkit-demo)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: fastest on small shared machines)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("new-plugin", help="write a plugin package: components, hooks, contract tests, README")
    p.add_argument("name", help="the plugin's name and namespace, e.g. dna-kmers (package arkit_dna_kmers)")
    p.add_argument("--kinds", default="tokenizer,sampler,constraint",
                   help="comma-separated component kinds to include, from tokenizer, head, sampler, drafter, "
                        "constraint (default tokenizer,sampler,constraint)")
    p.add_argument("--out", default=None, help="folder to write (default ./arkit-NAME; must not exist or be empty)")
    p.add_argument("--json", action="store_true", help="print the folder and files as JSON")
    p.set_defaults(run=_cmd_new_plugin)

    p = sub.add_parser("train", help="train a pipeline as a config file (TOML or JSON) says")
    p.add_argument("config", help="config file: pipeline, data, training settings, output folder (docs/training.md)")
    p.add_argument("--resume", action="store_true", help="resume from the newest checkpoint in the output folder")
    p.add_argument("--json", action="store_true", help="print a JSON summary (no progress bar)")
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("bench", help="benchmarks that print JSON")
    p.add_argument("which", choices=["decode", "train", "speculative", "onnx", "lossless"], help="which benchmark")
    p.add_argument("--sizes", default="small,gpt2", help="model sizes, comma-separated (small, gpt2)")
    p.add_argument("--repeats", type=int, default=None,
                   help="interleaved rounds per measurement (default 5 for decode and onnx, 3 for train)")
    p.add_argument("--steps", type=int, default=3, help="train: optimiser steps per round (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--quick", action="store_true", help="speculative: a smoke test (tiny models, seconds)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=_cmd_bench)
    return parser


def _add_plugin_commands(parser: argparse.ArgumentParser, *, registry: bool = True,
                         command: str | None = None) -> None:
    """Let each loaded plugin add subcommands; a failing plugin is reported, the CLI goes on.

    With ``registry`` (any command but ``--help``) components are registered first, so
    that a plugin that fails there adds no commands either; ``--help`` skips that step
    (it imports the plugins, but runs none of their component hooks).

    A plugin command's arguments are added only when ``command`` is that command, or
    when ``command`` is ``None`` (``arkit plugins``, which reports a plugin whose
    arguments fail): ``--help`` and the other commands do not run them.
    """
    from ._lazy import LazyCallable
    from .plugins import get_host

    if registry:
        from .registry import list_plugins

        list_plugins()
    host = get_host()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    wanted = command
    for impl in host.pm.hook.arkit_register_commands.get_hookimpls():
        name = impl.plugin_name

        def register(command: str, run: Callable[[argparse.Namespace], int | None] | str, *, help: str = "",
                     arguments: Callable[[argparse.ArgumentParser], None] | str | None = None,
                     _plugin: str = name) -> None:
            if command in BUILTIN_COMMANDS or command in sub.choices:
                raise ConfigError(f"command {command!r} already exists")
            record = host.records.get(_plugin)
            where = dict(kind="command", name=command, plugin=_plugin, distribution=record.distribution if record else None)
            if isinstance(run, str):  # "module:function": imported only when the command runs
                run = LazyCallable(run, **where)
            if isinstance(arguments, str):
                arguments = LazyCallable(arguments, **where)
            p = sub.add_parser(command, help=f"{help} (plugin {_plugin})".strip())
            if arguments is not None and wanted in (None, command):
                arguments(p)
            p.set_defaults(run=run)

        try:
            impl.function(**{arg: register for arg in impl.argnames})
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a plugin's broken command (even sys.exit) never breaks the CLI
            record = host.records.get(name)
            error = PluginLoadError(name, record.distribution if record else None, f"its commands: {exc}")
            if os.environ.get("ARKIT_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}:
                raise error from None
            _COMMAND_ERRORS[name] = f"its commands: {exc}"
            warnings.warn(str(error), ArkitPluginWarning, stacklevel=2)


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Format arkit's own warnings as one ``arkit: warning: ...`` line (no source location) while the CLI runs.

    Only the formatting changes: filters and recorders (``-W error``, ``pytest.warns``) see every warning as before.
    """
    default = warnings.formatwarning

    def short(message: Warning | str, category: type[Warning], filename: str, lineno: int,
              line: str | None = None) -> str:
        if issubclass(category, ArkitWarning):
            return f"arkit: warning: {message}\n"
        return default(message, category, filename, lineno, line)

    warnings.formatwarning = short
    try:
        yield
    finally:
        warnings.formatwarning = default


def _silence_stdout() -> None:
    """After a closed pipe (``arkit components | head``): send the rest of stdout nowhere, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured): nothing will be flushed to it
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    _COMMAND_ERRORS.clear()
    try:
        with _one_line_warnings():
            if argv != ["--version"]:  # --help lists the plugins' commands too
                first = argv[0] if argv else ""
                _add_plugin_commands(parser, registry=first not in ("", "-h", "--help"),
                                     command=None if first == "plugins" else first)
            args = parser.parse_args(argv)
            if not getattr(args, "run", None):
                parser.print_help()
                return 0
            code = args.run(args)
            sys.stdout.flush()  # a closed pipe shows here, inside the handler below
        return 0 if code is None else int(code)
    except ArkitError as exc:
        print(f"arkit: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a Unix tool killed by a closed pipe
    except KeyboardInterrupt:
        print("arkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
