"""Batched speculative decoding when rows behave differently: some copy, some do not, they end apart.

Rows whose drafts are right advance several tokens per pass and finish early; the
loop then drops them from the target's passes and cache. Whatever the mix, the
tokens (and their log-probabilities, a sensitive probe of the cache) equal plain
decoding's, and the drafter keeps seeing every row of the batch.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit

from arkit.generation.speculative.schedule import DraftSchedule

from .helpers import tiny_pipeline


class RowOracle:
    """Drafts the plain continuation for the rows that copy and random tokens for the others."""

    config: dict = {}

    def __init__(self, reference: list[list[int]], copies: list[bool], vocab: int, seed: int) -> None:
        self.reference, self.copies, self.vocab = reference, copies, vocab
        self.generator = torch.Generator().manual_seed(seed)
        self.rows_seen: set[int] = set()

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        self.rows_seen.add(tokens.shape[0])
        rows = []
        for row, context in enumerate(tokens.tolist()):
            n = sum(t >= 0 for t in context)
            noise = torch.randint(0, self.vocab, (k,), generator=self.generator).tolist()
            rows.append(((self.reference[row][n : n + k] if self.copies[row] else []) + noise)[:k])
        return arkit.Draft(tokens=torch.tensor(rows))


@settings(max_examples=20, deadline=None)
@given(
    prompts=st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=6), min_size=2, max_size=6),
    data=st.data(),
    k=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    cache=st.sampled_from(["core/dynamic", "core/static"]),
    guided=st.booleans(),
    schedule=st.sampled_from(["constant", "adaptive"]),
)
def test_rows_that_copy_and_rows_that_do_not_decode_as_plain_decoding(
    prompts: list[list[int]], data: Any, k: int, seed: int, cache: str, guided: bool, schedule: str
) -> None:
    copies = data.draw(st.lists(st.booleans(), min_size=len(prompts), max_size=len(prompts)), label="copies")
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    options: dict[str, Any] = dict(max_new_tokens=14, eos_token_ids=(), num_draft_tokens=k, output_logprobs=True,
                                   draft_schedule=schedule)
    if guided:
        options.update(guidance_scale=2.0, negative_prompt_ids=[[1]] * len(prompts))
    plain = pipe.generate(prompt_ids=prompts, **options)
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    oracle = RowOracle(reference, copies, 259, seed)
    fast = pipe.replace(drafter=oracle).generate(prompt_ids=prompts, **options)
    assert fast.sequences == plain.sequences
    for got, want in zip(fast.logprobs, plain.logprobs):
        assert got == pytest.approx(want, abs=1e-4)
    assert oracle.rows_seen == {len(prompts)}  # the drafter always sees the whole batch


def test_finished_rows_leave_the_target_passes() -> None:
    """Four rows copy and finish in a few passes, four do not: the later passes run on four rows only."""
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", "core/static"))
    prompts = [list(b"row %d" % i) for i in range(8)]
    options: dict[str, Any] = dict(max_new_tokens=20, eos_token_ids=(), num_draft_tokens=5, draft_schedule="constant")
    plain = pipe.generate(prompt_ids=prompts, **options)
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    widths: list[int] = []
    backbone = pipe.backbone
    hook = backbone.register_forward_pre_hook(lambda module, args: widths.append(args[0].shape[0]))
    try:
        fast = pipe.replace(drafter=RowOracle(reference, [True, False] * 4, 259, 0)).generate(prompt_ids=prompts,
                                                                                              **options)
    finally:
        hook.remove()
    assert fast.sequences == plain.sequences
    assert widths[0] == 8 and widths[-1] == 4  # the copying rows were done after a few passes and left
    assert fast.speculative.row_calls < 8 * fast.speculative.target_calls


def _schedule(k: int, outcomes: list[list[int]], copying: int = 0) -> DraftSchedule:
    """A schedule of ``len(outcomes[0])`` rows after passes whose rows kept ``outcomes[i][r]`` of ``k`` drafts."""
    schedule = DraftSchedule(k, len(outcomes[0]), adaptive=True)
    for kept in outcomes:
        schedule.update(range(len(kept)), kept, [k] * len(kept))
    return schedule


def test_the_width_rule_weighs_expected_tokens_against_the_pass_cost() -> None:
    """Every row is verified at the pass's width: one row that copies among eight that fail is not worth
    widening everyone's pass for, four are, and a row alone always is. Eight failing rows decode plainly."""
    live = [True] * 8

    def width(copying: int, rows: list[bool] = live) -> int:
        schedule = _schedule(5, [[5 if r < copying else 0 for r in range(8)]] * 6)
        return schedule.next(room=100, wanted=50, trees=False, live=rows)

    assert width(8) == width(4) == 5
    assert width(1) == 0 and width(0) == 0
    assert width(1, [True] + [False] * 7) == 5  # the copying row alone in the batch
    fresh = DraftSchedule(5, 1, adaptive=True)  # no history: the prior's 0.5 per token
    assert 1 <= fresh.next(room=100, wanted=50, trees=False, live=[True]) <= 5
    assert fresh.next(room=2, wanted=50, trees=False, live=[True]) <= 2  # within the context
    assert fresh.next(room=100, wanted=0, trees=False, live=[True]) == 0  # nothing left to draft for
    constant = DraftSchedule(5, 8, adaptive=False)
    assert constant.next(room=100, wanted=50, trees=False, live=live) == 5


def test_failing_rows_decode_plainly_and_are_tried_again_now_and_then() -> None:
    schedule = DraftSchedule(3, 8, adaptive=True)
    widths, estimates = [], []
    for _ in range(100):  # eight rows whose drafts always fail
        width = schedule.next(room=100, wanted=50, trees=False, live=[True] * 8)
        schedule.update(range(8), [0] * 8, [width] * 8)
        widths.append(width)
        estimates.append(schedule.acceptance(0))
    assert widths[0] > 0 and widths.count(0) > 80  # mostly plain steps: the drafter is not even called
    assert any(widths[20:])  # but drafting is tried again from time to time
    assert min(estimates) <= 0.4  # from the prior's 0.8 after the first failed pass


def test_a_drafter_with_nothing_to_propose_is_asked_less_often_and_again_when_it_has_something() -> None:
    schedule = DraftSchedule(5, 2, adaptive=True)
    asked = []
    for i in range(60):  # the drafter proposes nothing for 40 passes, then drafts (and fails) for both rows
        width = schedule.next(room=100, wanted=50, trees=False, live=[True, True])
        asked.append(width > 0)
        schedule.update(range(2), [0, 0], [width if i >= 40 else 0] * 2)
    assert asked[:4] == [True, False, True, False] and 8 <= sum(asked[:40]) <= 12  # then every fifth pass
    first = asked.index(True, 40)  # once it has something again it is asked on every pass it is worth it
    assert first <= 44 and asked[first + 1]


def test_a_batch_whose_drafts_fail_drafts_little() -> None:
    """Adaptive schedule: with four rows that copy, drafting goes on as under the constant schedule;
    with none, the schedule soon stops drafting. The tokens equal plain decoding's either way."""
    pipe = tiny_pipeline()
    prompts = [list(b"row %d" % i) for i in range(8)]
    options: dict[str, Any] = dict(max_new_tokens=40, eos_token_ids=(), num_draft_tokens=4)
    plain = pipe.generate(prompt_ids=prompts, **options)
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    runs: dict[tuple[int, str], Any] = {}
    for copying in (4, 0):
        for schedule in ("constant", "adaptive"):
            drafter = RowOracle(reference, [r < copying for r in range(8)], 259, 0)
            out = pipe.replace(drafter=drafter).generate(prompt_ids=prompts, draft_schedule=schedule, **options)
            assert out.sequences == plain.sequences
            runs[copying, schedule] = out.speculative
    assert runs[4, "adaptive"].accepted >= 0.75 * runs[4, "constant"].accepted
    assert runs[0, "adaptive"].drafted < runs[0, "constant"].drafted / 4
