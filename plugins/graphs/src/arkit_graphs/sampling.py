"""Sampling graphs from a pipeline, with or without a constraint, and measuring the constraint's intervention."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import torch

import arkit
from arkit import InputError

from .graph import Graph

__all__ = ["GraphSamples", "Intervention", "measure_intervention", "sample_graphs"]


@attrs.frozen(kw_only=True)
class Intervention:
    """How much a constraint changed the model's choices, measured by re-scoring the sampled sequences.

    ``steps``: generated tokens scored; ``argmax_removed``: the share of steps where the
    model's most likely token was forbidden; ``mass_removed``: the mean probability the
    constraint took away per step; ``forbidden_steps``: the share of steps where it took
    away more than 1 %.
    """

    steps: int
    argmax_removed: float
    mass_removed: float
    forbidden_steps: float

    def as_dict(self) -> dict[str, float]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class GraphSamples:
    """Sampled graphs (leniently decoded), which parsed strictly, why rows stopped, and the cost."""

    graphs: tuple[Graph, ...]
    well_formed: tuple[bool, ...]
    finish_reasons: dict[str, int]
    tokens: tuple[tuple[int, ...], ...]
    model_calls: int
    elapsed_s: float
    intervention: Intervention | None = None
    tokens_per_row_call: float | None = None
    """With a drafter: tokens a row gained per target pass (accepted drafts plus the target's own)."""


def _max_tokens(pipe: arkit.Pipeline) -> int:
    return int(pipe.backbone.max_seq_len) - 2


def sample_graphs(
    pipe: arkit.Pipeline,
    count: int,
    *,
    constraint: Any = None,
    batch_size: int = 100,
    seed: int = 0,
    max_new_tokens: int | None = None,
    measure: bool = True,
    **generation: Any,
) -> GraphSamples:
    """``count`` graphs from ``pipe`` (prompt: ``bos``), in batches with the KV cache, optionally constrained.

    ``constraint``: a constraint object, or a callable returning a fresh one (it is used
    once per batch). With a constraint and ``measure``, the intervention is measured too.
    """
    if count < 1 or batch_size < 1:
        raise arkit.ConfigError(f"count and batch_size must be >= 1, got {count} and {batch_size}")
    bos = pipe.tokenizer.special_tokens["bos"]
    limit = max_new_tokens or _max_tokens(pipe)
    graphs: list[Graph] = []
    formed: list[bool] = []
    tokens: list[tuple[int, ...]] = []
    reasons: Counter[str] = Counter()
    calls, elapsed = 0, 0.0
    generated = row_calls = 0
    eos = pipe.tokenizer.special_tokens["eos"]
    for batch, start in enumerate(range(0, count, batch_size)):
        rows = min(batch_size, count - start)
        c = constraint() if callable(constraint) and not hasattr(constraint, "allowed") else constraint
        out = pipe.generate(prompt_ids=[[bos]] * rows, constraint=c, max_new_tokens=limit, seed=seed + batch,
                            **generation)
        calls += out.num_steps
        elapsed += out.elapsed_s
        if out.speculative is not None:
            generated += out.speculative.generated
            row_calls += out.speculative.row_calls
        for seq, reason in zip(out.sequences, out.finish_reasons):
            ids = [t for t in seq if t != eos]
            tokens.append(tuple(seq))
            reasons[str(reason)] += 1
            try:
                graphs.append(pipe.tokenizer.parse(ids, strict=True))
                formed.append(reason != "length")
            except InputError:
                graphs.append(pipe.tokenizer.decode(ids))
                formed.append(False)
    intervention = None
    if constraint is not None and measure:
        make = constraint if callable(constraint) and not hasattr(constraint, "allowed") else (lambda: constraint)
        intervention = measure_intervention(pipe, tokens, make)
    return GraphSamples(graphs=tuple(graphs), well_formed=tuple(formed), finish_reasons=dict(reasons),
                        tokens=tuple(tokens), model_calls=calls, elapsed_s=elapsed, intervention=intervention,
                        tokens_per_row_call=generated / row_calls if row_calls else None)


@torch.no_grad()
def measure_intervention(
    pipe: arkit.Pipeline, sequences: Sequence[Sequence[int]], make_constraint: Callable[[], Any], *,
    batch_size: int = 100,
) -> Intervention:
    """Re-score ``sequences`` (generated after ``bos``) with the model and the sampler's processing, and
    measure the probability the constraint removed at each step."""
    bos = pipe.tokenizer.special_tokens["bos"]
    pad = pipe.tokenizer.special_tokens.get("pad", 0)
    steps = argmax = forbidden = 0
    mass = 0.0
    pipe.backbone.eval()
    pipe.head.eval()
    for start in range(0, len(sequences), batch_size):
        chunk = [list(s) for s in sequences[start:start + batch_size] if len(s) > 0]
        if not chunk:
            continue
        width = max(len(s) for s in chunk) + 1
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        for r, s in enumerate(chunk):
            ids[r, : len(s) + 1] = torch.tensor([bos] + s)
        positions = torch.arange(width).expand(len(chunk), width)
        logits = pipe.head(pipe.backbone(ids, positions=positions)).float()
        for r, s in enumerate(chunk):
            constraint = make_constraint()
            state = constraint.start()
            context = ids[r: r + 1, :1]
            for t, token in enumerate(s):
                scores = pipe.sampler.process(logits[r: r + 1, t], context)
                probs = torch.softmax(scores, -1)[0]
                allowed = constraint.allowed(state)
                mask = allowed if isinstance(allowed, torch.Tensor) else torch.zeros_like(probs, dtype=torch.bool).index_fill_(
                    0, torch.tensor(list(allowed), dtype=torch.long), True)
                removed = float(probs[~mask].sum())
                mass += removed
                forbidden += removed > 0.01
                argmax += not bool(mask[int(probs.argmax())])
                steps += 1
                state = constraint.advance(state, token)
                context = ids[r: r + 1, : t + 2]
    n = max(steps, 1)
    return Intervention(steps=steps, argmax_removed=argmax / n, mass_removed=mass / n, forbidden_steps=forbidden / n)
