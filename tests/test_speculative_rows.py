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
)
def test_rows_that_copy_and_rows_that_do_not_decode_as_plain_decoding(
    prompts: list[list[int]], data: Any, k: int, seed: int, cache: str, guided: bool
) -> None:
    copies = data.draw(st.lists(st.booleans(), min_size=len(prompts), max_size=len(prompts)), label="copies")
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    options: dict[str, Any] = dict(max_new_tokens=14, eos_token_ids=(), num_draft_tokens=k, output_logprobs=True,
                                   draft_schedule="constant")
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
