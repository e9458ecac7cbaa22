"""Which loop runs a request, and what comes out of it: the one place that chooses.

:meth:`arkit.Pipeline.generate` calls :func:`generate` and :meth:`arkit.Pipeline.stream`
calls :func:`stream`, each with a :class:`~arkit.generation.request.Request`.
:func:`choose_loop` picks the loop from the request and the pipeline, and refuses
options the chosen loop has no use for:

- ``"beam"`` (``num_beams > 1``): :func:`arkit.generation.beam.beam`;
- ``"speculative"`` (the pipeline has a drafter): :mod:`arkit.generation.speculative`;
- ``"sample"`` (otherwise): :func:`arkit.generation.sample.sample`.
"""

from __future__ import annotations

from collections.abc import Iterator
import time
from typing import TYPE_CHECKING, Literal

import torch

from ..errors import ConfigError
from ..types import GenerationEvent, GenerationOutput
from .request import refuse_options
from .sample import sample, step_events, steps
from .stats import Stats
from .stopping import REASONS

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from .request import Request

__all__ = ["choose_loop", "generate", "stream"]

Loop = Literal["sample", "beam", "speculative"]

_SAMPLING = ("max_new_tokens", "min_new_tokens", "max_length", "eos_token_ids", "stop_sequences", "seed",
             "output_logprobs", "guidance_scale")


def choose_loop(pipe: Pipeline, request: Request) -> Loop:
    """The loop that runs ``request`` on ``pipe``; :class:`arkit.ConfigError` for options it cannot honour."""
    config = request.config
    if config.num_beams > 1:
        if config.guidance_scale != 1.0:
            raise ConfigError(f"guidance_scale={config.guidance_scale}: beam search (num_beams={config.num_beams}) "
                              f"does not combine with classifier-free guidance; use sampling")
        if pipe.drafter is not None:
            raise ConfigError(f"num_beams={config.num_beams}: beam search does not use a drafter, and speculative "
                              f"decoding keeps no beams: remove the drafter (pipe.replace(drafter=None)) or "
                              f"generate without beams")
        refuse_options(config, "beam search", (*_SAMPLING, "num_beams", "length_penalty", "early_stopping",
                                               "num_return_sequences"))
        return "beam"
    if pipe.drafter is not None:
        refuse_options(config, "speculative decoding", (*_SAMPLING, "num_draft_tokens", "draft_schedule"))
        return "speculative"
    # speculative decoding reproduces plain decoding: without a drafter its options mean "no drafts"
    refuse_options(config, "sampling", (*_SAMPLING, "num_draft_tokens", "draft_schedule"))
    return "sample"


def _events(pipe: Pipeline, request: Request, loop: Loop, stats: Stats) -> Iterator[tuple[GenerationEvent,
                                                                                         float | None]]:
    if loop == "speculative":
        from .speculative import decode_speculative

        return decode_speculative(pipe, request, stats)
    return step_events(sample(pipe, request, stats))


def stream(pipe: Pipeline, request: Request) -> Iterator[GenerationEvent]:
    """Each token of each row as soon as it exists (beam search cannot stream)."""
    loop = choose_loop(pipe, request)
    if loop == "beam":
        raise ConfigError(f"num_beams={request.config.num_beams}: beam search cannot stream, its best sequence is "
                          f"known only at the end; use generate")
    _ready(pipe)
    for event, _ in _events(pipe, request, loop, Stats()):
        yield event


def generate(pipe: Pipeline, request: Request) -> GenerationOutput:
    """Run ``request`` to the end and collect every row's tokens, finish reason, log-probabilities and statistics."""
    loop = choose_loop(pipe, request)
    start = time.perf_counter()
    stats = Stats()
    _ready(pipe)
    B, config = request.batch, request.config
    if loop == "beam":
        from .beam import beam

        flat = [h for per_prompt in beam(pipe, request, stats) for h in per_prompt]
        n = config.num_return_sequences
        return GenerationOutput(
            sequences=tuple(h.tokens for h in flat),
            prompt_lengths=tuple(len(p) for p in request.prompts for _ in range(n)),
            finish_reasons=tuple(h.finish_reason for h in flat),
            decoded=tuple(pipe.tokenizer.decode(h.tokens) for h in flat),
            logprobs=tuple(h.logprobs or () for h in flat) if config.output_logprobs else None,
            scores=tuple(h.score for h in flat),
            num_steps=stats.steps,
            elapsed_s=time.perf_counter() - start,
            prefill_s=stats.prefill_s,
        )
    if loop == "sample":  # the lean path: steps stay tensors until the end, no per-token objects
        tokens, emitted, codes, logprobs = [], [], [], []
        with torch.inference_mode():  # entered once, not at every step
            for step in steps(pipe, request, stats):
                tokens.append(step.tokens)
                emitted.append(step.emitted)
                codes.append(step.codes)
                if step.logprobs is not None:
                    logprobs.append(step.logprobs)
        sequences, reasons, lps = _collect(tokens, emitted, codes, logprobs, B)
    else:
        rows: list[list[int]] = [[] for _ in range(B)]
        row_lps: list[list[float]] = [[] for _ in range(B)]
        finish: list[str | None] = [None] * B
        for event, lp in _events(pipe, request, loop, stats):
            rows[event.row].append(event.token_id)
            if lp is not None:
                row_lps[event.row].append(lp)
            if event.finish_reason is not None:
                finish[event.row] = event.finish_reason
        sequences = tuple(tuple(r) for r in rows)
        reasons = tuple(r or "length" for r in finish)
        lps = tuple(tuple(r) for r in row_lps)
    return GenerationOutput(
        sequences=sequences,
        prompt_lengths=tuple(len(p) for p in request.prompts),
        finish_reasons=reasons,  # type: ignore[arg-type]
        decoded=tuple(pipe.tokenizer.decode(s) for s in sequences),
        logprobs=lps if config.output_logprobs else None,
        num_steps=stats.steps,
        elapsed_s=time.perf_counter() - start,
        prefill_s=stats.prefill_s,
        speculative=stats.speculative() if loop == "speculative" else None,
    )


def _collect(tokens: list[torch.Tensor], emitted: list[torch.Tensor | None], codes: list[torch.Tensor | None],
             logprobs: list[torch.Tensor], B: int) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...],
                                                            tuple[tuple[float, ...], ...]]:
    """Rows' tokens, finish reasons and log-probabilities from the steps' tensors (each row emits a prefix of steps)."""
    if not tokens:
        return tuple(() for _ in range(B)), ("length",) * B, tuple(() for _ in range(B))
    counts = [len(tokens)] * B
    partial = [e for e in emitted if e is not None]
    if partial:  # steps after some row finished
        counts = (torch.stack(partial).sum(0) + (len(emitted) - len(partial))).tolist()
    table = torch.stack(tokens, 1).tolist()  # [B, steps]
    ended = [c for c in codes if c is not None]
    code = torch.stack(ended).sum(0).tolist() if ended else [0] * B  # a row stops once: one nonzero code at most
    sequences = tuple(tuple(row[:n]) for row, n in zip(table, counts))
    reasons = tuple(REASONS[c] or "length" for c in code)
    lps = tuple(tuple(row[:n]) for row, n in zip(torch.stack(logprobs, 1).tolist(), counts)) if logprobs else ()
    return sequences, reasons, lps  # type: ignore[return-value]


def _ready(pipe: Pipeline) -> None:
    """Put the pipeline's modules in inference mode (a module already there, submodules included, is left as it is:
    checking costs a fifth of ``eval()``, which sets every submodule's flag again)."""
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module) and any(m.training for m in component.modules()):
            component.eval()
