"""Speculative decoding under classifier-free guidance.

Every row's unconditional twin rides along in the target pass, fed the same pending token
and draft; the acceptance rule sees the guided logits. So greedy output must equal plain
guided greedy whatever is drafted, and exact speculative sampling must reproduce the guided
distribution.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit

from .helpers import sequence_counts, sequence_distribution, tiny_pipeline, toy_target, tv_distance, tv_tolerance
from .test_speculative import Oracle, PoorDrafter

prompt_lists = st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=8), min_size=1, max_size=3)


@settings(max_examples=20, deadline=None)
@given(prompts=prompt_lists, negatives=prompt_lists, k=st.integers(1, 5), seed=st.integers(0, 10_000),
       scale=st.sampled_from([0.0, 1.5, 3.0]), cache=st.sampled_from(["core/dynamic", "core/static"]))
def test_guided_greedy_speculative_equals_guided_greedy(prompts: list[list[int]], negatives: list[list[int]], k: int,
                                                        seed: int, scale: float, cache: str) -> None:
    """Prompts and unconditional prompts of different lengths, random draft lengths and acceptance per row."""
    negatives = (negatives * len(prompts))[:len(prompts)]
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    options: dict[str, Any] = dict(max_new_tokens=12, eos_token_ids=(), num_draft_tokens=k, guidance_scale=scale,
                                   negative_prompt_ids=negatives, output_logprobs=True)
    plain = pipe.generate(prompt_ids=prompts, **options)
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    fast = pipe.replace(drafter=Oracle(reference, 259, seed)).generate(prompt_ids=prompts, **options)
    assert fast.sequences == plain.sequences
    for got, want in zip(fast.logprobs, plain.logprobs):  # the twins' caches held the same keys and values
        assert got == pytest.approx(want, abs=1e-4)
    assert fast.speculative.generated == sum(len(s) for s in plain.sequences)


@pytest.mark.parametrize("drafter", [
    {"name": "core/prompt-lookup"},
    {"name": "core/token-recycling", "vocab_size": 259, "tree_width": 2},
    {"name": "core/jacobi"},
])
def test_guided_greedy_with_the_builtin_drafters(drafter: dict[str, Any]) -> None:
    pipe = tiny_pipeline()
    options: dict[str, Any] = dict(max_new_tokens=30, eos_token_ids=(), guidance_scale=2.0,
                                   negative_prompts=["", "the"], output_logprobs=True)
    drafting = {"draft_schedule": "constant"}  # every pass drafts: the guided verification is what is tested
    prompts = ["abcabcabcabc", "the cat the cat"]
    plain = pipe.generate(prompts, **options)
    name = drafter.pop("name")
    fast = pipe.replace(drafter=arkit.create("drafter", name, **drafter)).generate(prompts, **options, **drafting)
    assert fast.sequences == plain.sequences
    for got, want in zip(fast.logprobs, plain.logprobs):
        assert got == pytest.approx(want, abs=1e-4)
    assert fast.speculative.accepted > 0  # the guided model loops into runs that drafts continue


V, NEW, PROMPT, NEGATIVE = 4, 3, [1, 2], [3]


@pytest.mark.parametrize("scale", [0.5, 2.5])
def test_exact_speculative_sampling_has_the_guided_distribution(scale: float) -> None:
    target = toy_target(V)
    exact = sequence_distribution(target, PROMPT, NEW, negative=NEGATIVE, guidance_scale=scale)
    plain = sequence_distribution(target, PROMPT, NEW)
    assert 0.5 * sum(abs(exact[s] - plain[s]) for s in exact) > 0.1  # guidance moves this distribution a lot
    n = 30_000
    out = target.replace(drafter=PoorDrafter([0.7, 0.1, 0.1, 0.1])).generate(
        prompt_ids=[PROMPT] * n, negative_prompt_ids=[NEGATIVE] * n, guidance_scale=scale, max_new_tokens=NEW,
        eos_token_ids=(), seed=7, num_draft_tokens=2, draft_schedule="constant")
    counts = sequence_counts(out.sequences)
    assert tv_distance(counts, exact, n) < tv_tolerance(exact, n)
    assert out.speculative.accepted > 0


def test_guided_speculative_decoding_streams_like_generate() -> None:
    pipe = tiny_pipeline().replace(drafter=arkit.create("drafter", "core/prompt-lookup"))
    prompts = ["abab abab abab", "zz"]
    options: dict[str, Any] = dict(max_new_tokens=15, eos_token_ids=(), guidance_scale=1.5)
    out = pipe.generate(prompts, **options)
    rows: dict[int, list[int]] = {0: [], 1: []}
    for event in pipe.stream(prompts, **options):
        rows[event.row].append(event.token_id)
    assert tuple(tuple(rows[r]) for r in (0, 1)) == out.sequences


def test_guidance_with_a_drafter_needs_one_negative_prompt_per_prompt() -> None:
    pipe = tiny_pipeline().replace(drafter=arkit.create("drafter", "core/prompt-lookup"))
    with pytest.raises(arkit.InputError, match="negative prompts"):
        pipe.generate(["ab", "cd"], guidance_scale=2.0, negative_prompts=["x"])
