"""Beam search: keep the ``num_beams`` best partial sequences per prompt.

Scores are sums of log-probabilities under the sampler's processed distribution
(so penalties, masks and constraints apply); finished hypotheses are ranked by
``score / length ** length_penalty``. The cache is reordered with the surviving
beams at every step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import heapq
import math
from typing import TYPE_CHECKING, Any

import attrs
import torch

from ..errors import GenerationError
from ..types import FinishReason, GenerationConfig
from ._setup import prefill_inputs, prepare
from .loop import DecodeStats, constraint_mask, constraint_done

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..protocols import Constraint

__all__ = ["beam_search", "Hypothesis"]


@attrs.frozen
class Hypothesis:
    tokens: tuple[int, ...]
    score: float  # length-penalised
    finish_reason: FinishReason


@torch.inference_mode()
def beam_search(
    pipe: Pipeline,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    constraint: Constraint | None = None,
    stats: DecodeStats | None = None,
    extra_inputs: Mapping[str, torch.Tensor] | None = None,
) -> list[list[Hypothesis]]:
    """The ``num_return_sequences`` best hypotheses per prompt, best first.

    ``extra_inputs`` (one row per prompt) go to every backbone call, following each beam.
    """
    extras = dict(extra_inputs or {})
    backbone, head, sampler, cache = pipe.backbone, pipe.head, pipe.sampler, pipe.cache
    stats = stats if stats is not None else DecodeStats()
    K = config.num_beams
    prep = prepare(pipe, prompts, config)
    B, L, total = len(prompts), prep.prompt_width, prep.total
    limits = [min(config.max_new_tokens, prep.context - n) for n in prep.lengths]
    stops = [list(s) for s in config.stop_sequences]

    # Prefill the B prompts once, then copy each row's cache to its K beams.
    cache.allocate(backbone.cache_spec(), batch_size=B, max_len=total, dtype=prep.dtype, device=prep.device)
    ids, positions, mask = prefill_inputs(prep.history, L)
    logits = head(backbone(ids, positions=positions, cache=cache, attention_mask=mask, **extras)[:, -1])
    stats.steps = 1
    expand = torch.arange(B, device=prep.device).repeat_interleave(K)
    cache.reorder(expand)
    extras = {name: value[expand] for name, value in extras.items()}
    history = prep.history[expand].clone()  # [B*K, total]
    logits = logits[expand]
    next_positions = (positions[:, -1] + 1)[expand]
    beam_scores = torch.full((B, K), float("-inf"), device=prep.device)
    beam_scores[:, 0] = 0.0  # all beams start identical: expand only the first
    states = [constraint.start() for _ in range(B * K)] if constraint is not None else []
    finished: list[list[tuple[float, int, Hypothesis]]] = [[] for _ in range(B)]  # min-heaps of the best K
    done = [False] * B
    counter = 0  # tie-breaker for the heaps

    for t in range(L, total):
        step = t - L
        logits = logits.float()
        if torch.isnan(logits).any():
            raise GenerationError(f"the model produced NaN logits at generated position {step}")
        if constraint is not None:
            live = [not done[r // K] and math.isfinite(float(beam_scores.view(-1)[r])) for r in range(B * K)]
            allowed, _ = constraint_mask(constraint, states, live, logits.shape[-1], step, logits.device)
            logits = logits.masked_fill(~allowed, float("-inf"))
        logprobs = sampler.process(logits, history[:, :t]).log_softmax(-1)  # [B*K, V]
        V = logprobs.shape[-1]
        candidates = (beam_scores.view(-1, 1) + logprobs).view(B, K * V)
        top_scores, top_index = candidates.topk(min(2 * K, K * V), dim=-1)  # enough to refill K live beams

        new_beams = torch.zeros(B, K, dtype=torch.long, device=prep.device)
        new_tokens = torch.zeros(B, K, dtype=torch.long, device=prep.device)
        new_scores = torch.full((B, K), float("-inf"), device=prep.device)
        for b in range(B):
            if done[b]:
                new_beams[b] = b * K  # placeholder rows, never read again
                continue
            filled = 0
            for score, index in zip(top_scores[b].tolist(), top_index[b].tolist()):
                if filled == K or score == float("-inf"):
                    break
                beam, token = divmod(index, V)
                row = b * K + beam
                length = step + 1
                reason: FinishReason | None = None
                if token in prep.eos:
                    reason = "eos"
                elif stops and any((history[row, :t].tolist() + [token])[-len(s):] == s for s in stops):
                    reason = "stop_sequence"
                elif constraint is not None and constraint_done(constraint, constraint.advance(states[row], token)):
                    reason = "constraint"
                if reason is not None:
                    tokens = tuple(t_ for t_ in history[row, L:t].tolist() if t_ >= 0) + (token,)
                    hyp = Hypothesis(tokens, score / length**config.length_penalty, reason)
                    counter += 1
                    heapq.heappush(finished[b], (hyp.score, counter, hyp))
                    if len(finished[b]) > K:
                        heapq.heappop(finished[b])
                    continue
                new_beams[b, filled], new_tokens[b, filled], new_scores[b, filled] = row, token, score
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
                            row = int(new_beams[b, k])
                            tokens = tuple(t_ for t_ in history[row, L:t].tolist() if t_ >= 0) + (int(new_tokens[b, k]),)
                            reason = "length" if step + 1 >= config.max_new_tokens else "max_length"
                            hyp = Hypothesis(tokens, float(new_scores[b, k]) / len(tokens) ** config.length_penalty, reason)
                            counter += 1
                            heapq.heappush(finished[b], (hyp.score, counter, hyp))
                            if len(finished[b]) > K:
                                heapq.heappop(finished[b])
                    done[b] = True
        if all(done):
            break

        # Keep the surviving beams: reorder the cache, the token buffer and the constraint states.
        order = new_beams.view(-1)
        cache.reorder(order)
        history = history[order]
        history[:, t] = torch.where(new_scores.view(-1) > float("-inf"), new_tokens.view(-1), -1)
        for b in range(B):
            if done[b]:
                history[b * K : (b + 1) * K, t] = -1
        if constraint is not None:
            states = [
                constraint.advance(states[int(r)], int(tok)) if int(tok) >= 0 else states[int(r)]
                for r, tok in zip(order.tolist(), history[:, t].tolist())
            ]
        beam_scores = new_scores
        next_positions = next_positions[order]
        extras = {name: value[order] for name, value in extras.items()}
        real = history[:, getattr(cache, "offset", 0) : t + 1] >= 0
        mask = None if bool(real.all()) else real[:, None, :]
        logits = head(backbone(history[:, t : t + 1].clamp(min=0), positions=next_positions[:, None],
                               cache=cache, attention_mask=mask, **extras)[:, -1])
        next_positions = next_positions + 1
        stats.steps += 1

    results: list[list[Hypothesis]] = []
    for b in range(B):
        best = sorted(finished[b], key=lambda item: (-item[0], item[1]))
        results.append([hyp for _, _, hyp in best[: config.num_return_sequences]])
    return results


