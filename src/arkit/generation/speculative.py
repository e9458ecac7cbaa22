"""Speculative decoding: a drafter proposes, the target checks every row's draft in one pass.

:func:`decode_speculative`, top to bottom:

1. Prefill the prompts; the target picks each row's first token. That token is
   *pending*: emitted, but not yet in the cache.
2. The drafter proposes up to ``k`` tokens per row, continuing the row's
   context and its pending token.
3. One target pass over ``[pending, draft...]`` scores every position of every
   row at once.
4. The sampler's processing (and the constraint) turn those logits into the
   target's distribution at each position; the acceptance rule keeps a prefix
   of each row's draft and picks the target's own token after it (the new
   pending token).
5. The kept tokens and the new one are emitted row by row, under the usual
   stopping rules.
6. The cache is rolled back to the longest kept prefix among live rows. Slots
   that other rows did not keep become holes (``-1`` in ``history``), which
   the attention mask hides from then on.

Rows advance by different amounts, so cache slots and token positions part
ways: ``history`` is indexed by slot (``-1`` marks padding and holes) and
``positions`` counts each row's real tokens. At batch 1 there are never holes.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
import inspect
import time
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..acceptance._common import tree_ancestors, tree_depths
from ..errors import ConfigError, ConstraintError, GenerationError
from ..types import Draft, GenerationConfig, GenerationEvent, SpeculativeStats, Verification
from ._setup import make_generator, prefill_inputs, prepare
from .loop import DecodeStats, checked_allowed, constraint_done, finish_reason, guide, twin_inputs

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..protocols import Constraint

__all__ = ["decode_speculative", "SpeculativeCounter"]

_MAX_PAUSE = 32
"""Longest run of passes without drafts under the adaptive schedule (pauses double while drafts keep failing)."""


class SpeculativeCounter:
    """Filled in by :func:`decode_speculative` as it runs; ``freeze()`` gives the :class:`SpeculativeStats`."""

    def __init__(self) -> None:
        self.drafted = self.accepted = self.target_calls = self.row_calls = self.generated = 0
        self.drafter_s = self.target_s = 0.0

    def freeze(self) -> SpeculativeStats:
        return SpeculativeStats(drafted=self.drafted, accepted=self.accepted, target_calls=self.target_calls,
                                row_calls=self.row_calls, generated=self.generated, drafter_s=self.drafter_s, target_s=self.target_s)


@torch.inference_mode()
def decode_speculative(
    pipe: Pipeline,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    constraint: Constraint | None = None,
    negative_prompts: Sequence[Sequence[int]] | None = None,
    stats: DecodeStats,
    counter: SpeculativeCounter,
    extra_inputs: Mapping[str, torch.Tensor] | None = None,
) -> Generator[tuple[GenerationEvent, float | None], None, None]:
    """Yield ``(event, logprob)`` for every emitted token, like :func:`arkit.generation.loop.decode`.

    With ``config.guidance_scale != 1`` every row has an unconditional twin (``negative_prompts``)
    in the same target pass: the twin is fed the row's pending token and draft, and the two
    rows' logits are mixed as ``uncond + scale * (cond - uncond)`` before the acceptance rule
    sees them, so drafts are checked against the guided distribution.
    """
    backbone, head, sampler, cache, drafter = pipe.backbone, pipe.head, pipe.sampler, pipe.cache, pipe.drafter
    rule = pipe.acceptance if pipe.acceptance is not None else _default_rule()
    if hasattr(cache, "offset"):
        raise ConfigError("speculative decoding needs a cache that keeps every position (core/dynamic or "
                          "core/static), not one that evicts like core/sliding")
    k, B = config.num_draft_tokens, len(prompts)
    guided = config.guidance_scale != 1.0
    if guided:
        if negative_prompts is None or len(negative_prompts) != B:
            raise GenerationError("classifier-free guidance needs one negative (unconditional) prompt per prompt")
        prompts = [*prompts, *negative_prompts]  # rows B..2B-1 are the unconditional twins

    def twin(x: torch.Tensor) -> torch.Tensor:
        """Per-row values for every row of the target pass: the twins copy their rows'."""
        return torch.cat([x, x], 0) if guided else x

    R = len(prompts)  # rows of the target pass
    extras = twin_inputs(extra_inputs, guided)

    # 1. Lay out the prompts. Slots grow by 1 + the longest kept draft per pass, so B rows need at
    #    most min(B, k + 1) slots per generated token, plus room for one pass's draft. A tree may keep
    #    its last node and discard the branches before it: up to k + 1 slots per token.
    prep = prepare(pipe, prompts, config)
    L, new, eos, V = prep.prompt_width, prep.total - prep.prompt_width, prep.eos, head.vocab_size
    trees = bool(getattr(drafter, "tree_drafts", False))
    if trees and not hasattr(rule, "accept_tree"):
        raise ConfigError(f"the drafter proposes trees but the acceptance rule {type(rule).__name__} keeps only "
                          f"chains: use core/exact or core/greedy-match, or a chain drafter")
    slots = L + (k + 1 if trees else min(B, k + 1)) * new + k + 1
    history = torch.cat([prep.history, prep.history.new_full((R, slots - prep.total), -1)], 1)
    generator = make_generator(config.seed, prep.device)
    cache.allocate(backbone.cache_spec(), batch_size=R, max_len=slots, dtype=prep.dtype, device=prep.device)
    # The acceptance rule may treat a draft as random (use its ``probs``) only when it was drawn from
    # the generation's generator: the drafter takes ``generator`` in ``start`` and says it draws from
    # it (``uses_generator``, true when absent). Any other draft is handed over as a fixed guess.
    random_drafts = False
    if hasattr(drafter, "start"):
        if "generator" in inspect.signature(drafter.start).parameters:  # its own stream, seeded from ours
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            drafter.start(pipe, B, generator=torch.Generator(device=prep.device).manual_seed(seed))
            random_drafts = bool(getattr(drafter, "uses_generator", True))
        else:
            drafter.start(pipe, B)
    stops = [list(s) for s in config.stop_sequences]
    row_tokens = [list(p) for p in prompts[:B]]  # each row's real tokens so far, for stop sequences
    states = [constraint.start() for _ in range(B)] if constraint is not None else []
    live, produced = [True] * B, [0] * B
    holes = False
    asked = k  # drafts asked per pass: adapts between 1 and k under the "adaptive" schedule
    pause, wait = 0, 1  # adaptive: passes left without drafting, and the next pause's length

    # 2. Prefill: a pass with an empty draft, so the first token goes through the same rule.
    fed, positions, mask = prefill_inputs(history, L)
    draft = Draft(tokens=fed.new_zeros(B, 0))
    start = time.perf_counter()
    S = 0  # slots in the cache before this pass
    while True:
        n = draft.tokens.shape[1] + 1  # positions whose predictions this pass needs
        began = time.perf_counter()
        hidden = backbone(fed, positions=positions, cache=cache, attention_mask=mask, **extras)[:, -n:]
        logits = head(hidden)
        if guided:
            hidden, logits = hidden[:B], guide(logits, config.guidance_scale)
        counter.target_s += time.perf_counter() - began
        if S == 0:
            stats.steps, stats.prefill_s = 1, time.perf_counter() - start
        else:
            stats.steps += 1
            counter.target_calls += 1

        # 3. The target's distribution at each position: constraint, min length, the sampler's processing.
        context = _compact(history[:B, :S] if S else history[:B, :L], holes)
        pending = fed[:B, :1] if S else None
        scores = _target_scores(pipe, logits, context, pending, draft, constraint, states, live, produced,
                                config, eos)
        alive_rows = torch.tensor(live, device=scores.device)
        empty = ~torch.isfinite(scores[:, 0]).any(-1) & alive_rows
        if bool(empty.any()):
            raise GenerationError(f"the sampler's processing left no token for row {int(empty.nonzero()[0, 0])}; "
                                  f"loosen the truncation, penalties or bans")
        probs = _target_probs(sampler, scores)

        # 4. Keep a prefix of each draft (a root-to-node path of a tree); the target adds its own token after it.
        if draft.parents is None:
            accepted, next_tokens = rule.accept(draft, probs, generator)
            paths = [list(range(a)) for a in accepted.tolist()]
            last_kept = accepted.to(scores.device)  # a chain's last kept node a - 1 sits at position a
        else:
            paths, next_tokens = rule.accept_tree(draft, probs, generator)
            accepted = torch.tensor([len(p) for p in paths], device=next_tokens.device)
            last_kept = torch.tensor([1 + p[-1] if p else 0 for p in paths], device=scores.device)
        after = scores[:, 0] if n == 1 else scores[torch.arange(B, device=scores.device), last_kept]  # [B, V]
        outside = ~torch.isfinite(after.gather(-1, next_tokens[:, None].to(scores.device)))[:, 0]
        outside &= alive_rows
        if bool(outside.any()):
            row = int(outside.nonzero()[0, 0])
            raise GenerationError(f"the acceptance rule chose token {int(next_tokens[row])} outside the target's "
                                  f"support for row {row}")
        accepted, chosen = accepted.tolist(), next_tokens.tolist()
        drafted = draft.tokens.tolist()

        # 5. Emit each live row's kept drafts and the target's token, stopping where the row ends.
        kept, live_before = [0] * B, list(live)
        proposed = sum(_row_reach(draft, r) for r in range(B) if live[r])
        for row in range(B):
            if not live[row]:
                continue
            counter.drafted += _row_length(draft, row)
            counter.row_calls += 1 if S else 0
            at = [0] + [1 + node for node in paths[row]]  # the position whose scores each emitted token came from
            for j, token in enumerate([drafted[row][node] for node in paths[row]] + [chosen[row]]):
                produced[row] += 1
                row_tokens[row].append(token)
                reason = finish_reason(token, row_tokens[row], produced[row], prep.lengths[row], config, eos,
                                       stops, prep.context)
                if constraint is not None and reason is None:
                    states[row] = constraint.advance(states[row], token)
                    if constraint_done(constraint, states[row]):
                        reason = "constraint"
                lp = float(scores[row, at[j]].log_softmax(-1)[token]) if config.output_logprobs else None
                counter.generated += 1
                yield GenerationEvent(row=row, index=produced[row] - 1, token_id=token, finish_reason=reason), lp
                if reason is not None:
                    live[row] = False
                    break
                if j < accepted[row]:
                    kept[row] += 1
            counter.accepted += kept[row]

        if config.draft_schedule == "adaptive" and proposed:
            if sum(kept) == proposed:
                asked, wait = min(k, asked + 1), 1
            elif 2 * sum(kept) < proposed:
                if asked == 1:  # even one draft token mostly fails: decode plainly for a while, then try again
                    pause, wait = wait, min(2 * wait, _MAX_PAUSE)
                asked = max(1, asked - 1)

        # 6. Roll back: the cache keeps the pending token and the longest kept draft among live rows. In a
        #    tree the kept path skips other branches' slots: they become holes too.
        if S:
            reach = [1 + (paths[r][kept[r] - 1] if kept[r] else -1) for r in range(B)]  # slots past pending
            keep = 1 + max((reach[r] for r in range(B) if live[r]), default=0)
            for row in range(B):
                if live[row]:
                    history[row, S] = fed[row, 0]
                    for node in paths[row][: kept[row]]:
                        history[row, S + 1 + node] = draft.tokens[row, node]
                    holes = holes or kept[row] + 1 < keep
                else:  # a finished row's slots stay -1 from here on: holes before its pending id
                    holes = True
            if guided:
                history[B:, S:S + keep] = history[:B, S:S + keep]
            cache.crop(S + keep)
            S += keep
            next_positions = positions[:, 0] + 1 + twin(torch.tensor(kept, device=positions.device))
        else:
            S, next_positions = L, positions[:, -1] + 1
        if hasattr(drafter, "observe"):
            drafter.observe(Verification(tokens=fed[:B, -n:], hidden=hidden, logits=logits,
                                         accepted=torch.tensor(kept, device=fed.device), next_tokens=next_tokens,
                                         live=torch.tensor(live_before, device=fed.device),
                                         last_kept=last_kept.to(fed.device)))
        if not any(live):
            return

        # 7. Draft for the next pass: as many tokens as the longest remaining row can use and the context allows.
        alive_rows = torch.tensor(live, device=fed.device)
        pending_ids = torch.where(alive_rows, next_tokens, 0)
        next_list = next_positions.tolist()
        room = min(backbone.max_seq_len - 1 - next_list[r] for r in range(R) if live[r % B])
        wanted = max(config.max_new_tokens - produced[r] for r in range(B) if live[r]) - 1
        # a tree's nodes outnumber its depth: any size helps while a row wants two or more tokens
        kk = max(0, min(asked, room, wanted if not trees or wanted <= 0 else asked))
        if pause:
            pause, kk = pause - 1, 0
        if kk:
            began = time.perf_counter()
            draft = drafter.propose(torch.cat([_compact(history[:B, :S], holes), pending_ids[:, None]], 1), kk)
            counter.drafter_s += time.perf_counter() - began
            _check_draft(draft, B, kk, V)
            if draft.probs is not None and not random_drafts:  # not the generation's draws: a fixed guess
                draft = Draft(tokens=draft.tokens, lengths=draft.lengths, parents=draft.parents)
            if draft.parents is not None and not trees:
                raise GenerationError(f"{type(drafter).__name__} returned a tree draft without declaring "
                                      f"tree_drafts = True (the loop reserves cache room for trees from it)")
            if draft.lengths is not None:  # score only as many positions as the longest live proposal needs
                longest = max((int(draft.lengths[r]) for r in range(B) if live[r]), default=0)
                if longest < kk:
                    kk = longest
                    draft = Draft(tokens=draft.tokens[:, :kk], probs=None if draft.probs is None else draft.probs[:, :kk],
                                  lengths=draft.lengths.clamp(max=kk),
                                  parents=None if draft.parents is None else draft.parents[:, :kk])
        else:
            draft = Draft(tokens=fed.new_zeros(B, 0))
        fed = twin(torch.cat([pending_ids[:, None], draft.tokens], 1))
        alive = twin(alive_rows)[:, None]
        if kk == 0:  # the pending token alone: it sees every real slot and itself
            depth, seen = 0, alive.new_ones(R, 1, 1)
        elif draft.parents is None:  # a chain: each position sees the ones before it
            depth = torch.arange(kk + 1, device=fed.device).expand(R, kk + 1)
            seen = torch.ones(kk + 1, kk + 1, dtype=torch.bool, device=fed.device).tril().expand(R, kk + 1, kk + 1)
        else:  # a tree: each node sits one past its parent and sees only its ancestors
            depth, seen = twin(tree_depths(draft.parents)), twin(tree_ancestors(draft.parents))
        positions = torch.where(alive, next_positions[:, None] + depth, 0)
        mask = None
        if holes or _padded_or_done(prep.lengths, L, live) or draft.parents is not None:
            real = history[:, :S] >= 0
            mask = torch.cat([real[:, None, :].expand(R, kk + 1, S), seen], -1)


def _padded_or_done(lengths: list[int], width: int, live: list[bool]) -> bool:
    """Whether some slot is not a real token: a padded prompt or a finished row."""
    return min(lengths) < width or not all(live)


def _default_rule() -> Any:
    from ..acceptance.exact import ExactAcceptance

    return ExactAcceptance()


def _row_length(draft: Draft, row: int) -> int:
    return draft.tokens.shape[1] if draft.lengths is None else int(draft.lengths[row])


def _row_reach(draft: Draft, row: int) -> int:
    """How many tokens the row's draft could add: its length for a chain, the depth of its deepest node for a tree."""
    n = _row_length(draft, row)
    if draft.parents is None or n == 0:
        return n
    parents = draft.parents[row, :n].tolist()
    return max(len(_path(parents, node)) for node in range(n))


def _check_draft(draft: Any, B: int, k: int, V: int) -> None:
    if not isinstance(draft, Draft):
        raise GenerationError(f"the drafter must return an arkit.Draft, got {type(draft).__name__}")
    tokens = draft.tokens
    if not isinstance(tokens, torch.Tensor) or tokens.shape != (B, k) or tokens.dtype != torch.long:
        raise GenerationError(f"the drafter returned tokens {getattr(tokens, 'dtype', '?')} of shape "
                              f"{tuple(getattr(tokens, 'shape', ()))}; expected a LongTensor of shape {(B, k)}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= V):
        raise GenerationError(f"the drafter proposed ids outside the target's vocabulary [0, {V}): check that "
                              f"drafter and target share a tokenizer")
    parents = draft.parents
    if parents is not None:
        if not isinstance(parents, torch.Tensor) or parents.shape != (B, k) or parents.dtype != torch.long:
            raise GenerationError(f"the drafter's parents must be a LongTensor of shape {(B, k)}, got "
                                  f"{getattr(parents, 'dtype', type(parents).__name__)} "
                                  f"{tuple(getattr(parents, 'shape', ()))}")
        index = torch.arange(k, device=parents.device)
        if bool(((parents < -1) | (parents >= index)).any()):
            raise GenerationError("a tree draft's parents[b, i] must be -1 (the pending token) or an earlier "
                                  "node (< i): list nodes parents first")
    if draft.probs is not None and tuple(draft.probs.shape) != (B, k, V):
        raise GenerationError(f"the drafter's probs have shape {tuple(draft.probs.shape)}; expected {(B, k, V)} "
                              f"(the target's vocabulary is {V})")


def _compact(slots: torch.Tensor, holes: bool) -> torch.Tensor:
    """Each row's real tokens, right-aligned, ``-1`` before: what drafters and processors read."""
    if not holes:
        return slots
    order = torch.sort((slots >= 0).to(torch.int8), dim=1, stable=True).indices  # holes first, tokens in order
    return slots.gather(1, order)


def _target_scores(
    pipe: Pipeline, logits: torch.Tensor, context: torch.Tensor, pending: torch.Tensor | None, draft: Draft,
    constraint: Constraint | None, states: list[Any], live: list[bool], produced: list[int],
    config: GenerationConfig, eos: frozenset[int],
) -> torch.Tensor:
    """``[B, n, V]``: the sampler's processed scores at each position of the pass, constraint applied.

    Position 0 continues the context and the pending token; position ``i + 1`` continues
    them and the draft's path to node ``i`` (the first ``i + 1`` tokens of a chain). The
    constraint's state is advanced along each path for as long as the draft obeys it.
    """
    B, n, V = logits.shape
    logits = logits.float()
    if bool(torch.isnan(logits).any()):
        raise GenerationError("the model produced NaN logits; check the weights (a diverged training run?)")
    prefix = context if pending is None else torch.cat([context, pending], 1)
    k = draft.tokens.shape[1]
    tokens = draft.tokens.tolist()
    if draft.parents is None:  # a chain: node i continues node i - 1
        parent_of = [[i - 1 for i in range(k)] for _ in range(B)]
        paths = [draft.tokens[:, :i] for i in range(n)]
    else:
        parent_of = draft.parents.tolist()
        paths = _tree_contexts(prefix, draft, parent_of, n)
    # state[p][row]: the constraint's state after the path to position p (None: the path breaks it)
    state: list[list[Any]] = [list(states)] + [[None] * B for _ in range(n - 1)]
    out = []
    for i in range(n):
        step = logits[:, i]
        if constraint is not None:
            allowed = torch.ones(B, V, dtype=torch.bool, device=logits.device)
            for row in range(B):
                if not live[row] or state[i][row] is None:
                    continue
                mask = _allowed(constraint, state[i][row], V, logits.device)
                if not bool(mask.any()):
                    if i == 0 and not constraint.complete(state[i][row]):
                        raise ConstraintError(
                            f"the constraint allows no token for row {row} at generated position {produced[row]}: "
                            f"its rule has a dead end there; fix the constraint or its start state")
                    continue  # the row ends before here; this position is never used
                allowed[row] = mask
                for node in range(i, k) if draft.parents is None else range(k):
                    if parent_of[row][node] + 1 == i and bool(mask[tokens[row][node]]):
                        state[node + 1][row] = constraint.advance(state[i][row], tokens[row][node])
                    if draft.parents is None:
                        break
            step = step.masked_fill(~allowed, float("-inf"))
        if eos and config.min_new_tokens:
            depth = i if draft.parents is None else [len(_path(parent_of[r], i - 1)) for r in range(B)]
            early = torch.tensor([p + (depth if isinstance(depth, int) else depth[r]) < config.min_new_tokens
                                  for r, p in enumerate(produced)], device=logits.device)
            if bool(early.any()):
                ids = torch.tensor(sorted(eos), device=logits.device)
                step = step.index_put((early.nonzero()[:, :1], ids[None]), step.new_tensor(float("-inf")))
        context_i = torch.cat([prefix, paths[i]], 1) if draft.parents is None else paths[i]
        out.append(pipe.sampler.process(step, context_i))
    return torch.stack(out, 1)


def _path(parents: list[int], node: int) -> list[int]:
    """Nodes from the root's first child down to ``node`` (``[]`` for the root, ``node = -1``)."""
    path = []
    while node >= 0:
        path.append(node)
        node = parents[node]
    return path[::-1]


def _tree_contexts(prefix: torch.Tensor, draft: Draft, parents: list[list[int]], n: int) -> list[torch.Tensor]:
    """For each position, every row's context: the prefix then the tokens on the path to it, ``-1`` before."""
    tokens = draft.tokens.tolist()
    out = []
    for i in range(n):
        rows = [[tokens[r][j] for j in _path(parents[r], i - 1)] for r in range(len(tokens))]
        width = max(map(len, rows))
        padded = prefix.new_tensor([[-1] * (width - len(p)) + p for p in rows]).view(len(rows), width)
        out.append(_compact(torch.cat([prefix, padded], 1), True))
    return out


def _allowed(constraint: Constraint, state: Any, V: int, device: torch.device) -> torch.Tensor:
    allowed = checked_allowed(constraint, state, V)
    if isinstance(allowed, torch.Tensor):
        return allowed.to(device=device, dtype=torch.bool)
    mask = torch.zeros(V, dtype=torch.bool, device=device)
    if len(allowed):
        mask[allowed] = True
    return mask


def _target_probs(sampler: Any, scores: torch.Tensor) -> torch.Tensor:
    """The distribution the sampler draws from: one-hot on the argmax when deterministic, else softmax."""
    if getattr(sampler, "deterministic", False):
        return F.one_hot(scores.argmax(-1), scores.shape[-1]).float()
    probs = getattr(sampler, "probs", None)
    return probs(scores) if probs is not None else scores.float().softmax(-1)
