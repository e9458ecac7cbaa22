"""``arkit demo``: train a small model on the bundled corpus, generate, save, reload, export
to ONNX and run it in onnxruntime, compare; show the shipped reference model ``core/ref-text``
next to it, and speculative decoding on it (with and without a drafter); write a loss curve
and a summary."""

from __future__ import annotations

from collections.abc import Callable
import json
from pathlib import Path
from typing import Any

import torch

from ._corpus import tiny_corpus
from .pipeline import Pipeline
from .registry import create
from .types import TrainConfig

PROMPTS = ("The interpreter", "A function", "When an exception")
QUOTE_PROMPTS = (  # answers that repeat the prompt, where a drafter that copies pays off
    "Rewrite with one change:\nThe interpreter reads a line, parses it and runs the resulting code object.\n"
    "The interpreter reads a line,",
    "def mean(values):\n    total = sum(values)\n    return total / len(values)\n\n"
    "# the same function, again:\ndef mean(values):\n",
    "A generator function returns an iterator that produces one value each time next() is called.\n\n"
    "Quote: \"A generator function returns",
)
REFERENCE = "core/ref-text"
HELD_OUT_EVERY = 10
"""Every tenth document of the corpus is held out: the model never trains on it."""
LOSS_WINDOW = 10
"""The summary's first and last training losses are means over this many steps."""


def run_demo(
    out_dir: str | Path = "arkit-demo",
    *,
    steps: int = 600,
    seq_len: int = 128,
    batch_size: int = 16,
    threads: int = 1,
    seed: int = 0,
    max_new_tokens: int = 80,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run the end-to-end demo and return what it measured (also written to ``summary.json``)."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    out = Path(out_dir)
    corpus = tiny_corpus()
    held_out, train = corpus[::HELD_OUT_EVERY], [d for i, d in enumerate(corpus) if i % HELD_OUT_EVERY]
    pipe = Pipeline.from_preset("core/tiny-byte")
    log(f"corpus: {len(corpus)} documents, {sum(map(len, corpus)):,} characters (CPython help topics); "
        f"{len(held_out)} of them held out")
    log(f"model: core/tiny-byte, {pipe.num_parameters:,} parameters; training {steps} steps on {threads} thread(s)")
    result = pipe.fit(train, TrainConfig(steps=steps, seq_len=seq_len, batch_size=batch_size, seed=seed,
                                         threads=threads, progress=progress, warmup_steps=min(30, steps // 10),
                                         eval_every=max(1, steps // 10), eval_batches=4), eval_data=held_out)
    samples = pipe.generate(list(PROMPTS), max_new_tokens=max_new_tokens, seed=seed)
    greedy = pipe.replace(sampler=create("sampler", "core/greedy"))
    greedy_out = greedy.generate(list(PROMPTS), max_new_tokens=max_new_tokens)
    path = pipe.save_pretrained(out / "pipeline")

    # The shipped reference model on the same prompts; then speculative decoding on it: greedy with
    # and without a drafter gives the same tokens, in fewer target passes where the answer quotes the prompt.
    reference = Pipeline.from_preset(REFERENCE)
    log(f"reference: {REFERENCE}, {reference.num_parameters:,} parameters, shipped weights")
    ref_samples = reference.generate(list(PROMPTS), max_new_tokens=max_new_tokens, seed=seed)
    ref_greedy = reference.replace(sampler=create("sampler", "core/greedy"))
    fast = ref_greedy.replace(drafter=create("drafter", "core/prompt-lookup"))
    plain_out = ref_greedy.generate(list(QUOTE_PROMPTS), max_new_tokens=max_new_tokens)
    fast_out = fast.generate(list(QUOTE_PROMPTS), max_new_tokens=max_new_tokens)

    # ONNX: export the trained model, run the same greedy generation in onnxruntime.
    from .onnx import OrtPipeline, export

    log("exporting to ONNX and generating with onnxruntime ...")
    report = export(greedy, out / "onnx")
    ort_out = OrtPipeline.from_pretrained(report.directory, threads=threads).generate(
        list(PROMPTS), max_new_tokens=max_new_tokens)
    reloaded = Pipeline.from_pretrained(path)
    again = reloaded.generate(list(PROMPTS), max_new_tokens=max_new_tokens, seed=seed)
    identical = again.sequences == samples.sequences
    window = min(LOSS_WINDOW, steps)
    head = sum(result.losses[:window]) / window
    tail = sum(result.losses[-window:]) / window
    summary = {
        "preset": "core/tiny-byte",
        "parameters": pipe.num_parameters,
        "steps": result.steps,
        "threads": threads,
        "loss_first": round(head, 4),
        "loss_last": round(tail, 4),
        "loss_window": window,
        "loss_step_1": round(result.losses[0], 4),
        "held_out_documents": len(held_out),
        "eval_losses": [[step, round(value, 4)] for step, value in result.eval_losses],
        "train_tokens_per_s": round(result.tokens / result.elapsed_s, 1),
        "train_seconds": round(result.elapsed_s, 2),
        "samples": {p: p + d for p, d in zip(PROMPTS, samples.decoded)},
        "reference": {"preset": REFERENCE, "parameters": reference.num_parameters,
                      "samples": {p: p + d for p, d in zip(PROMPTS, ref_samples.decoded)}},
        "generate_tokens_per_s": round(sum(map(len, samples.sequences)) / samples.elapsed_s, 1),
        "saved_to": str(path),
        "reload_identical_tokens": identical,
        "speculative": {
            "model": REFERENCE,
            "drafter": "core/prompt-lookup",
            "answers": {p: p + d for p, d in zip(QUOTE_PROMPTS, fast_out.decoded)},
            "identical_to_plain_greedy": fast_out.sequences == plain_out.sequences,
            "target_passes": fast_out.num_steps,
            "plain_passes": plain_out.num_steps,
            "mean_accepted_per_call": round(fast_out.speculative.mean_accepted_per_call, 3),
            "plain_seconds": round(plain_out.elapsed_s, 3),
            "speculative_seconds": round(fast_out.elapsed_s, 3),
            **_drafter_economics(plain_out, fast_out),
        },
        "onnx": {
            "directory": str(report.directory),
            "export_seconds": report.export_s,
            "max_abs_logit_diff": report.max_abs_logit_diff,
            "identical_to_torch_greedy": ort_out.sequences == greedy_out.sequences,
            "onnxruntime_seconds": round(ort_out.elapsed_s, 3),
        },
        "loss_curve": _plot_losses(result.losses, result.eval_losses, out / "loss.png"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _drafter_economics(plain: Any, fast: Any) -> dict[str, Any]:
    """When drafting pays off: the tokens a target pass must yield to beat plain decoding, and what it yielded.

    A speculative pass verifies several drafted positions and costs more than a plain
    step; it pays off when the tokens it keeps per pass exceed that cost ratio.
    """
    plain_pass = plain.elapsed_s / max(plain.num_steps, 1)
    fast_pass = fast.elapsed_s / max(fast.num_steps, 1)
    break_even = fast_pass / plain_pass if plain_pass > 0 else float("inf")
    kept = fast.speculative.mean_accepted_per_call
    return {
        "plain_ms_per_pass": round(1000 * plain_pass, 3),
        "speculative_ms_per_pass": round(1000 * fast_pass, 3),
        "break_even_tokens_per_pass": round(break_even, 3),
        "pays_off": kept > break_even,
    }


def _plot_losses(losses: tuple[float, ...], eval_losses: tuple[tuple[int, float], ...], path: Path) -> str | None:
    """Training loss per step and held-out loss as a PNG; ``None`` (and nothing written) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(figsize=(6, 3.5))
    axes.plot(range(1, len(losses) + 1), losses, linewidth=0.8, alpha=0.6, label="training loss (each step)")
    if eval_losses:
        axes.plot([s for s, _ in eval_losses], [v for _, v in eval_losses], "o-", markersize=3,
                  label="held-out loss (documents never trained on)")
    axes.set(xlabel="optimiser step", ylabel="cross-entropy (nats/token)", title="arkit demo: core/tiny-byte")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    figure.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    figure.savefig(tmp, dpi=120)
    plt.close(figure)
    tmp.replace(path)  # never a half-written image
    return str(path)
