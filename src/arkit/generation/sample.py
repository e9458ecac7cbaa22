"""The sampling loop: prompts in, one token per row per step out.

Everything happens in :func:`sample`, top to bottom, commented like nanoGPT's
``generate``. It yields one :class:`Step` per backbone call: the token of every
row, which rows were still going, and why rows stopped. ``Pipeline.generate``
collects the steps as tensors; ``Pipeline.stream`` turns them into
:class:`arkit.GenerationEvent` s with :func:`step_events`. The step's parts live in
their own files: the layout in ``batch.py``, logits to scores in ``scoring.py``,
the stopping rules in ``stopping.py``.

Per step the loop does tensor work only; Python touches single rows only for a
constraint (whose states are Python objects).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
import time
from typing import TYPE_CHECKING, NamedTuple

import torch

from ..errors import GenerationError
from ..protocols import EvictingCache, PrecheckedBackbone
from ..types import GenerationEvent
from .batch import decode_positions, layout, make_generator, prefill_inputs, step_mask, twin_inputs
from .scoring import SKIP, Scoring
from .stats import Stats
from .stopping import REASONS, Stopping

_CONSTRAINT = REASONS.index("constraint")

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from .request import Request

__all__ = ["Step", "sample", "step_events", "steps"]


class Step(NamedTuple):
    """What one step of :func:`sample` produced, for all ``B`` rows at once."""

    index: int
    """The generated position: every row that emitted this step has ``index`` tokens before it."""
    tokens: torch.Tensor
    """``LongTensor[B]``: each row's token (meaningless where ``emitted`` is false)."""
    emitted: torch.Tensor | None
    """``BoolTensor[B]``: rows still going at this step, which emitted ``tokens``; ``None``: every row."""
    codes: torch.Tensor | None
    """``LongTensor[B]``: why each row stopped here, an index into :data:`arkit.generation.stopping.REASONS`
    (0: it goes on); ``None``: no row stopped."""
    logprobs: torch.Tensor | None
    """``FloatTensor[B]``: each token's log-probability under the scores, with ``output_logprobs``."""


def sample(pipe: Pipeline, request: Request, stats: Stats | None = None) -> Iterator[Step]:
    """Generate ``request`` token by token with the pipeline's sampler; yield a :class:`Step` per token position.

    With guidance every prompt has its unconditional twin in the same passes (rows
    ``B .. 2B-1``), fed the same tokens and zeros for the extra inputs. Runs in
    ``torch.inference_mode``, entered on each resumption (:func:`steps` leaves that to its caller).
    """
    with torch.inference_mode():
        yield from steps(pipe, request, stats)


def steps(pipe: Pipeline, request: Request, stats: Stats | None = None) -> Iterator[Step]:
    """:func:`sample` without entering ``torch.inference_mode``: for a caller that holds it around the whole loop."""
    backbone, head, sampler, cache = pipe.backbone, pipe.head, pipe.sampler, pipe.cache
    stats = stats if stats is not None else Stats()
    config, constraint, B, guided = request.config, request.constraint, request.batch, request.guided
    extras = twin_inputs(request.extra_inputs, guided)
    scoring = Scoring.of(pipe, request)
    evicting = isinstance(cache, EvictingCache)

    # 1. Lay the prompts out, right-aligned, in one buffer with room for the new tokens.
    batch = layout(pipe, request)
    history, L, total, padded = batch.history, batch.width, batch.total, batch.padded
    generator = make_generator(config.seed, batch.device)
    cache.allocate(backbone.cache_spec(), batch_size=history.shape[0], max_len=total, dtype=batch.dtype,
                   device=batch.device)
    stopping = Stopping(request, batch.lengths[:B], batch.device)

    # 2. Prefill: all prompt tokens in one forward pass; keep the logits of each row's last token.
    start = time.perf_counter()
    ids, positions, mask = prefill_inputs(history, L)
    logits = head(backbone(ids, positions=positions, cache=cache, attention_mask=mask, **extras)[:, -1])
    stats.steps, stats.prefill_s = 1, time.perf_counter() - start
    # Each row's position at every later step, made once: ``new_positions[i]`` (``[R, 1]``) feeds step ``L + i``.
    new_positions, furthest = decode_positions(batch, request)
    # The steps' inputs need no value checks when the backbone takes that word (protocols.PrecheckedBackbone): the
    # prompts and context were checked with the request, ids are the sampler's (in the head's vocabulary) or 0, and
    # positions reach ``furthest`` at most. The prefill above was checked, extra inputs included.
    step_extras = extras
    if (isinstance(backbone, PrecheckedBackbone) and backbone.accepts_prechecked is True
            and furthest < backbone.max_seq_len):
        step_extras = {**extras, "prechecked": True}

    # Every live row has emitted as many tokens as there were steps; rows that finished keep their count
    # (read only by min_new_tokens). ``live`` is None while every row is still going.
    states = [constraint.start() for _ in range(B)] if constraint is not None else None
    live: torch.Tensor | None = None
    counted = bool(config.min_new_tokens and request.eos)
    produced = torch.zeros(B, dtype=torch.long, device=batch.device) if counted else None
    own = history[:B]  # the prompts' rows (a view): without guidance, every row
    for t in range(L, total):
        # 3. Logits -> the sampler's scores (scoring.py), then a token per row.
        row_states = states if states is None or live is None else [s if go else SKIP
                                                                    for s, go in zip(states, live.tolist())]
        scores = scoring(logits, own[:, :t], produced=produced, states=row_states, step=t - L)
        next_ids = sampler.select(scores, generator)
        logprobs = scores.log_softmax(-1).gather(-1, next_ids[:, None])[:, 0] if config.output_logprobs else None
        if constraint is not None:
            outside = ~torch.isfinite(scores.gather(-1, next_ids[:, None])[:, 0])
            if live is not None:
                outside &= live
            if bool(outside.any()):
                row = int(outside.nonzero()[0, 0])
                raise GenerationError(f"the sampler chose token {int(next_ids[row])} outside its support for row {row}")

        # 4. Record each live row's token, then decide which rows stop here (stopping.py).
        own[:, t] = next_ids if live is None else torch.where(live, next_ids, -1)
        if produced is not None:
            produced += 1 if live is None else live
        codes = None if stopping.idle(t - L + 1) else stopping.step(next_ids, t - L + 1, own[:, : t + 1])
        if codes is not None and live is not None:
            codes = codes * live
        if states is not None:  # a row that did not stop otherwise advances its constraint, which may end it
            going = [True] * B if live is None else live.tolist()
            if codes is not None:
                going = [g and c == 0 for g, c in zip(going, codes.tolist())]
            for row, token in enumerate(next_ids.tolist()):
                if going[row]:
                    states[row], done = stopping.advance(states[row], token)
                    if done:
                        codes = torch.zeros(B, dtype=torch.long, device=batch.device) if codes is None else codes
                        codes[row] = _CONSTRAINT
        yield Step(t - L, next_ids, live, codes, logprobs)
        if codes is not None:  # some rule could end a row here: did it, and is anyone left?
            going_on = codes == 0 if live is None else live & (codes == 0)
            remaining = int(going_on.sum())
            if remaining == 0:
                break
            live = None if remaining == B else going_on
        if guided:
            history[B:, t] = own[:, t]  # the unconditional twins follow the same tokens

        # 5. Decode one step: feed each row's new token; it attends to every real slot so far.
        #    Rows that finished feed a masked placeholder until the whole batch is done.
        mask = None
        if padded or live is not None:  # otherwise every slot is real and no mask is needed
            mask = step_mask(history, cache.offset if evicting else 0, t + 1)  # slots the cache still holds
        fed = history[:, t : t + 1] if live is None else history[:, t : t + 1].clamp(min=0)  # placeholders: id 0
        logits = head(backbone(fed, positions=new_positions[t - L], cache=cache, attention_mask=mask,
                               **step_extras)[:, -1])
        stats.steps += 1


def step_events(steps: Iterable[Step]) -> Iterator[tuple[GenerationEvent, float | None]]:
    """``(event, logprob)`` for every token of every step, rows in order; each row's last event has its reason."""
    for step in steps:
        tokens = step.tokens.tolist()
        emitted = [True] * len(tokens) if step.emitted is None else step.emitted.tolist()
        codes = [0] * len(tokens) if step.codes is None else step.codes.tolist()
        logprobs = step.logprobs.tolist() if step.logprobs is not None else None
        for row, token in enumerate(tokens):
            if emitted[row]:
                event = GenerationEvent(row=row, index=step.index, token_id=token, finish_reason=REASONS[codes[row]])
                yield event, None if logprobs is None else logprobs[row]
