"""Speculative decoding: a drafter proposes, the target checks every row's draft in one pass.

:func:`decode_speculative`, top to bottom:

0. Lay out the prompts, start the drafter.
1. Propose: the drafter continues each row's context and its *pending* token (the
   target's last choice: emitted, not yet in the cache) with up to ``k`` tokens.
   Before the first pass there is nothing to propose: the first pass is the prefill.
2. Verify: one target pass over ``[pending, draft...]`` scores every position of
   every row, all in one call of the same scoring step as plain decoding.
3. Accept: the rule keeps a prefix of each row's draft (a tree: a root-to-node
   path) and picks the target's own token after it, the new pending token. A
   pass without drafts is a plain step: the sampler picks the token, and the
   pass feeds, scores and writes back only the pending tokens.
4. Emit the kept tokens and the new one, row by row, under the stopping rules
   (a pass's tokens are handed on together: the loop resumes once per pass).
5. Roll back the cache to the longest kept draft among live rows; tell the
   drafter what the target decided; update each row's acceptance estimate,
   from which the next pass's width is chosen (``schedule.py``). Once a quarter of
   the pass's rows have finished, they leave the target's passes and cache, so a
   batch whose rows end at different times does not pay for the finished ones.
   The drafter still sees every row; a drafter that observes the passes keeps
   them whole, since it reads the target's outputs row by row.

The parts live next to this file: ``drafting.py`` (the drafter's capabilities),
``checks.py`` (drafts checked), ``trees.py`` (chains, trees, their masks),
``verify.py`` (scores and acceptance), ``rows.py`` (emission), ``slots.py``
(cache slots and holes) and ``schedule.py`` (the adaptive draft length).
"""

from __future__ import annotations

from collections.abc import Generator
import time
from typing import TYPE_CHECKING

import torch

from ...acceptance.exact import ExactAcceptance
from ...errors import ConfigError
from ...protocols import EvictingCache, PrecheckedBackbone
from ...types import Draft, GenerationEvent, Verification
from ..batch import layout, make_generator, prefill_inputs, twin, twin_inputs
from ..scoring import Scoring, guide
from ..stopping import Stopping
from .drafting import Drafting
from .rows import Rows
from .schedule import DraftSchedule
from .slots import Slots
from .trees import draft_attention, proposals
from .verify import accept, plain_step, target_probs, target_scores

if TYPE_CHECKING:
    from ...pipeline import Pipeline
    from ..request import Request
    from ..stats import Stats

__all__ = ["decode_speculative"]


def decode_speculative(
    pipe: Pipeline, request: Request, stats: Stats
) -> Generator[tuple[GenerationEvent, float | None], None, None]:
    """Yield ``(event, logprob)`` for every emitted token, as plain decoding (:mod:`arkit.generation.sample`) does.

    With ``guidance_scale != 1`` every row's unconditional twin joins each target pass, fed the
    row's pending token and draft; the scores are guided before the rule sees them, so drafts
    are checked against the guided distribution. ``stats`` gets every count and time.
    """
    for events in _passes(pipe, request, stats):  # inference mode is entered once per pass, not per token
        yield from events


@torch.inference_mode()
def _passes(
    pipe: Pipeline, request: Request, stats: Stats
) -> Generator[list[tuple[GenerationEvent, float | None]], None, None]:
    """:func:`decode_speculative`'s loop, in inference mode: yields each pass's ``(event, logprob)`` pairs at once."""
    backbone, head, cache, config = pipe.backbone, pipe.head, pipe.cache, request.config
    if isinstance(cache, EvictingCache):
        raise ConfigError("speculative decoding needs a cache that keeps every position (core/dynamic or "
                          "core/static), not one that evicts like core/sliding")
    rule = pipe.acceptance if pipe.acceptance is not None else ExactAcceptance()
    B, R, V, k, guided = request.batch, len(request.rows), head.vocab_size, config.num_draft_tokens, request.guided
    extras = twin_inputs(request.extra_inputs, guided)

    # 0. Lay out the prompts. Slots grow by 1 + the longest kept draft per pass, so B rows need at most
    #    min(B, k + 1) slots per generated token, plus room for one pass's draft. A tree may keep its
    #    last node and discard the branches before it: up to k + 1 slots per token.
    drafting = Drafting(pipe.drafter, rule)
    batch = layout(pipe, request)
    L, new = batch.width, batch.total - batch.width
    size = L + (k + 1 if drafting.trees else min(B, k + 1)) * new + k + 1
    slots = Slots(torch.cat([batch.history, batch.history.new_full((R, size - batch.total), -1)], 1), B, guided)
    generator = make_generator(config.seed, batch.device)
    cache.allocate(backbone.cache_spec(), batch_size=R, max_len=size, dtype=batch.dtype, device=batch.device)
    drafting.start(pipe, B, generator)
    scoring, stopping = Scoring.of(pipe, request), Stopping(request, batch.lengths[:B])
    rows = Rows(request.prompts, request.constraint)
    schedule = DraftSchedule(k, B, adaptive=config.draft_schedule == "adaptive", costs=drafting.costs(pipe, k))
    padded = batch.padded
    # The pending token's position in row r (and its twin) is its real tokens so far: prompt + produced - 1.
    furthest = [max(batch.lengths[r], batch.lengths[B + r]) if guided else batch.lengths[r] for r in range(B)]
    # After the prefill (checked with the request), a pass's inputs need no value checks when the backbone takes
    # that word (protocols.PrecheckedBackbone): pending ids are the sampler's (or 0), drafts were checked against
    # the vocabulary (checks.py), and positions stay below max_seq_len (the width is cut to the room left).
    checked = {"prechecked": True} if (isinstance(backbone, PrecheckedBackbone) and backbone.accepts_prechecked is True
                                       and max(furthest) + config.max_new_tokens <= backbone.max_seq_len) else {}

    fed, positions, mask = prefill_inputs(slots.history, L)
    no_draft = draft = Draft(tokens=fed.new_zeros(B, 0))  # a plain step's, for the pass's rows
    ids = list(range(B))  # the rows in the target's passes and cache: finished rows leave from time to time
    pass_index: torch.Tensor | None = None  # the same as a tensor, None while it is every row
    pass_rows: torch.Tensor | None = None  # and their rows among all R (twins included)
    start = time.perf_counter()
    while True:
        if slots.filled:
            # 1. Propose: as many tokens as the longest remaining row can use and the context allows. The
            #    drafter sees every row; the target only the rows still in its passes.
            live = rows.live
            still = all(live[r] for r in ids)
            alive = None if still else torch.tensor([live[r] for r in ids], device=fed.device)
            pending = next_tokens if still else torch.where(alive, next_tokens, 0)
            room = backbone.max_seq_len - max(furthest[r] + rows.produced[r] for r in range(B) if live[r])
            wanted = max(config.max_new_tokens - rows.produced[r] for r in range(B) if live[r]) - 1
            kk = schedule.next(room, wanted, drafting.trees, live)
            draft = no_draft
            if kk:
                began = time.perf_counter()
                every = pending if pass_index is None else fed.new_zeros(B).index_copy(0, pass_index, pending)
                draft = drafting.propose(torch.cat([slots.context(), every[:, None]], 1), kk, V, live)
                stats.drafter_s += time.perf_counter() - began
                if pass_index is not None:
                    draft = _select(draft, pass_index)
            plain = draft.tokens.shape[1] == 0  # a plain step: the pending tokens at their positions, no copies
            fed = twin(pending[:, None] if plain else torch.cat([pending[:, None], draft.tokens], 1), guided)
            depth, seen = draft_attention(draft, guided)
            positions = at if plain else at + depth
            if alive is not None:  # finished rows feed placeholders: id 0 at position 0
                positions = torch.where(twin(alive, guided)[:, None], positions, 0)
            tree = draft.parents is not None
            mask = slots.mask(seen, pass_rows) if slots.holes or padded or not still or tree else None

        # 2. Verify: one target pass; the scoring step gives the target's distribution at each position.
        n = draft.tokens.shape[1] + 1  # positions whose predictions this pass needs
        prefill = not slots.filled
        A = len(ids)
        began = time.perf_counter()
        outputs = backbone(fed, positions=positions, cache=cache, attention_mask=mask, **extras,
                           **({} if prefill else checked))
        hidden = outputs[:, -n:]
        logits = head(hidden)
        stats.target_s += time.perf_counter() - began
        if prefill:
            stats.steps, stats.prefill_s = 1, time.perf_counter() - start
            prefix = slots.context(L)
        else:
            stats.steps += 1
            stats.target_calls += 1
            prefix = slots.pend(pending, ids, live)  # each row's context and pending token
        live_before = [rows.live[r] for r in ids]
        states = None if rows.states is None else [rows.states[r] for r in ids]
        scores = target_scores(scoring, logits, prefix, draft, states, live_before, [rows.produced[r] for r in ids])

        # 3. Accept: keep a prefix of each draft (a tree: a path); the target adds its own token after it.
        if n == 1:  # no draft: a plain step, the sampler picks
            decision = plain_step(pipe.sampler, scores, generator)
        else:
            decision = accept(rule, draft, target_probs(pipe.sampler, scores), scores, generator, live_before)

        # 4. Emit each live row's kept drafts and the target's token, stopping where the row ends.
        drafted, proposed = proposals(draft, live_before)
        stats.drafted += drafted
        stats.row_calls += sum(live_before) if slots.filled else 0
        events, kept = rows.emit(stopping, draft, decision, scores, ids, config.output_logprobs, stats)
        yield events

        # 5. Roll back the cache to the pending token and the longest kept draft among live rows, tell the
        #    drafter what the target decided, and adapt the draft length.
        if slots.filled:
            S = slots.filled
            keep = slots.keep(pending, draft, decision.paths, kept, ids, rows.live)
            cache.crop(S + keep)
            at = at + 1 if not any(kept) else at + 1 + twin(torch.tensor(kept, device=at.device), guided)[:, None]
        else:
            slots.filled, at = L, positions[:, -1:] + 1  # ``at``: each row's pending token's position, [R, 1]
        next_tokens = decision.next_tokens
        if drafting.observes:
            drafting.observe(Verification(
                tokens=fed[:B, -n:], hidden=hidden[:B], logits=guide(logits, config.guidance_scale) if guided else logits,
                accepted=torch.tensor(kept, device=fed.device), next_tokens=next_tokens,
                live=torch.tensor(live_before, device=fed.device),
                last_kept=fed.new_zeros(B) if decision.last_kept is None else decision.last_kept.to(fed.device),
                prompt_hidden=outputs[:B] if prefill else None))
        schedule.update(ids, kept, proposed)
        if not any(rows.live):
            return

        # Rows that finished leave the target's passes once they are a quarter of them: their cache rows
        # are dropped, so a batch whose rows end at different times does not pay for the finished ones.
        # Not under a drafter that observes the passes: it reads the target's rows, all of them.
        going = [a for a, row in enumerate(ids) if rows.live[row]]
        if not drafting.observes and 4 * (A - len(going)) >= A:
            index = torch.tensor(going + [A + a for a in going] if guided else going, device=fed.device)
            cache.reorder(index)
            extras = {name: value[index] for name, value in extras.items()}  # conditioning follows its rows
            at, next_tokens = at[index], next_tokens[index[: len(going)]]
            ids = [ids[a] for a in going]
            no_draft = Draft(tokens=no_draft.tokens[: len(ids)])
            pass_index = torch.tensor(ids, device=fed.device)
            pass_rows = torch.cat([pass_index, pass_index + B]) if guided else pass_index


def _select(draft: Draft, index: torch.Tensor) -> Draft:
    """The draft's rows at ``index``."""
    pick = lambda x: None if x is None else x[index]  # noqa: E731
    return Draft(tokens=draft.tokens[index], probs=pick(draft.probs), lengths=pick(draft.lengths),
                 parents=pick(draft.parents))
