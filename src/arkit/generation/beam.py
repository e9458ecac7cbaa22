"""Beam search: keep the ``num_beams`` best partial sequences per prompt.

Scores are sums of log-probabilities under the scores of ``scoring.py`` (so the
sampler's processing, the constraint and ``min_new_tokens`` apply as in sampling);
rows stop by the rules of ``stopping.py``. Finished hypotheses are ranked by
``score / length ** length_penalty``. The cache is reordered with the surviving
beams at every step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import heapq
import math
import time
from typing import TYPE_CHECKING

import attrs
import torch

from ..protocols import EvictingCache
from ..types import FinishReason, GenerationConfig
from .batch import layout, prefill_inputs, step_mask
from .request import build_request
from .scoring import SKIP, Scoring
from .stats import Stats
from .stopping import Stopping

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..protocols import Constraint
    from .request import Request

__all__ = ["Hypothesis", "beam", "beam_search"]


@attrs.frozen
class Hypothesis:
    """One finished beam: its tokens, length-penalised score and why it ended."""

    tokens: tuple[int, ...]
    score: float  # length-penalised
    finish_reason: FinishReason
    logprobs: tuple[float, ...] | None = None
    """Each token's log-probability under the scores, with ``output_logprobs``."""


def beam_search(
    pipe: Pipeline,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    constraint: Constraint | None = None,
    stats: Stats | None = None,
    extra_inputs: Mapping[str, torch.Tensor] | None = None,
) -> list[list[Hypothesis]]:
    """The ``num_return_sequences`` best hypotheses per prompt (token ids), best first.

    ``extra_inputs`` (one row per prompt) go to every backbone call, following each beam.
    """
    request = build_request(pipe, prompt_ids=prompts, config=config, constraint=constraint, extra_inputs=extra_inputs)
    return beam(pipe, request, stats)


@torch.inference_mode()
def beam(pipe: Pipeline, request: Request, stats: Stats | None = None) -> list[list[Hypothesis]]:
    """Beam search over a checked request: the ``num_return_sequences`` best hypotheses per prompt, best first."""
    backbone, head, cache = pipe.backbone, pipe.head, pipe.cache
    config, constraint = request.config, request.constraint
    stats = stats if stats is not None else Stats()
    scoring = Scoring.of(pipe, request)
    K = config.num_beams
    prep = layout(pipe, request)
    B, L, total = request.batch, prep.width, prep.total
    stopping = Stopping(request, prep.lengths, prep.device)
    limits = [min(config.max_new_tokens, request.context - n) for n in prep.lengths]
    extras = dict(request.extra_inputs)
    keep_logprobs = config.output_logprobs
    evicting = isinstance(cache, EvictingCache)

    # Prefill the B prompts once, then copy each row's cache to its K beams.
    cache.allocate(backbone.cache_spec(), batch_size=B, max_len=total, dtype=prep.dtype, device=prep.device)
    start = time.perf_counter()
    ids, positions, mask = prefill_inputs(prep.history, L)
    logits = head(backbone(ids, positions=positions, cache=cache, attention_mask=mask, **extras)[:, -1])
    stats.steps, stats.prefill_s = 1, time.perf_counter() - start
    expand = torch.arange(B, device=prep.device).repeat_interleave(K)
    cache.reorder(expand)
    extras = {name: value[expand] for name, value in extras.items()}
    history = prep.history[expand].clone()  # [B*K, total]
    logits = logits[expand]
    next_positions = (positions[:, -1] + 1)[expand]
    beam_scores = torch.full((B, K), float("-inf"), device=prep.device)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    states = [constraint.start() for _ in range(B * K)] if constraint is not None else None
    token_logprobs: list[list[float]] = [[] for _ in range(B * K)]  # per beam row, with output_logprobs
    finished: list[list[tuple[float, int, Hypothesis]]] = [[] for _ in range(B)]  # min-heaps of the best K
    done = [False] * B
    counter = 0  # tie-breaker for the heaps

    def push(b: int, row: int, t: int, token: int, score: float, reason: FinishReason, lp: float | None) -> None:
        nonlocal counter
        tokens = tuple(t_ for t_ in history[row, L:t].tolist() if t_ >= 0) + (token,)
        lps = tuple(token_logprobs[row]) + (lp,) if keep_logprobs and lp is not None else None
        hyp = Hypothesis(tokens, score / len(tokens) ** config.length_penalty, reason, lps)
        counter += 1
        heapq.heappush(finished[b], (hyp.score, counter, hyp))
        if len(finished[b]) > K:
            heapq.heappop(finished[b])

    for t in range(L, total):
        step = t - L
        row_states = None
        if states is not None:
            row_states = [states[r] if not done[r // K] and math.isfinite(float(beam_scores.view(-1)[r])) else SKIP
                          for r in range(B * K)]
        logprobs = scoring(logits, history[:, :t], produced=step, states=row_states, step=step).log_softmax(-1)
        V = logprobs.shape[-1]
        candidates = (beam_scores.view(-1, 1) + logprobs).view(B, K * V)
        top_scores, top_index = candidates.topk(min(2 * K, K * V), dim=-1)  # enough to refill K live beams

        new_beams = torch.zeros(B, K, dtype=torch.long, device=prep.device)
        new_tokens = torch.zeros(B, K, dtype=torch.long, device=prep.device)
        new_scores = torch.full((B, K), float("-inf"), device=prep.device)
        new_lps: list[float | None] = [None] * (B * K)
        for b in range(B):
            if done[b]:
                new_beams[b] = b * K  # placeholder rows, never read again
                continue
            filled = 0
            for score, index in zip(top_scores[b].tolist(), top_index[b].tolist()):
                if filled == K or score == float("-inf"):
                    break
                beam_, token = divmod(index, V)
                row = b * K + beam_
                lp = float(logprobs[row, token]) if keep_logprobs else None
                reason = stopping.reason(b, token, history[row, :t].tolist() + [token], step + 1)
                if reason not in ("eos", "stop_sequence"):  # the length limits end every beam together, below
                    reason = None
                    if states is not None and stopping.advance(states[row], token)[1]:
                        reason = "constraint"
                if reason is not None:
                    push(b, row, t, token, score, reason, lp)
                    continue
                new_beams[b, filled], new_tokens[b, filled], new_scores[b, filled] = row, token, score
                new_lps[b * K + filled] = lp
                filled += 1
            # Stop this prompt when no live beam can beat its worst finished hypothesis.
            at_limit = step + 1 >= limits[b]
            if len(finished[b]) >= K or at_limit:
                best_live = float(new_scores[b].max())
                if config.length_penalty > 0:
                    best_possible = best_live / limits[b] ** config.length_penalty
                else:
                    best_possible = best_live / (step + 1) ** config.length_penalty
                enough = len(finished[b]) >= K and (config.early_stopping or best_possible <= finished[b][0][0])
                if at_limit or enough:
                    if not enough:  # out of room: the live beams count as finished
                        for k in range(K):
                            if new_scores[b, k] == float("-inf"):
                                continue
                            row, token = int(new_beams[b, k]), int(new_tokens[b, k])
                            reason = stopping.reason(b, token, (), step + 1) or "length"
                            push(b, row, t, token, float(new_scores[b, k]), reason, new_lps[b * K + k])
                    done[b] = True
        if all(done):
            break

        # Keep the surviving beams: reorder the cache, the token buffer, the constraint states and logprobs.
        order = new_beams.view(-1)
        cache.reorder(order)
        history = history[order]
        history[:, t] = torch.where(new_scores.view(-1) > float("-inf"), new_tokens.view(-1), -1)
        for b in range(B):
            if done[b]:
                history[b * K : (b + 1) * K, t] = -1
        order_list, tokens_now = order.tolist(), history[:, t].tolist()
        if states is not None:
            states = [constraint.advance(states[r], tok) if tok >= 0 else states[r]  # type: ignore[union-attr]
                      for r, tok in zip(order_list, tokens_now)]
        if keep_logprobs:
            token_logprobs = [token_logprobs[r] + [new_lps[i]] if tokens_now[i] >= 0 else list(token_logprobs[r])
                              for i, r in enumerate(order_list)]  # type: ignore[list-item]
        beam_scores = new_scores
        next_positions = next_positions[order]
        extras = {name: value[order] for name, value in extras.items()}
        mask = step_mask(history, cache.offset if evicting else 0, t + 1)
        logits = head(backbone(history[:, t : t + 1].clamp(min=0), positions=next_positions[:, None],
                               cache=cache, attention_mask=mask, **extras)[:, -1])
        # a row past its limit feeds masked placeholders: their positions stop at the context's last
        next_positions = (next_positions + 1).clamp_(max=request.context - 1)
        stats.steps += 1

    results: list[list[Hypothesis]] = []
    for b in range(B):
        best = sorted(finished[b], key=lambda item: (-item[0], item[1]))
        results.append([hyp for _, _, hyp in best[: config.num_return_sequences]])
    return results

