"""Training-free self-drafters: core/jacobi (Jacobi and Speculative Jacobi decoding) and core/token-recycling.

Greedy speculative output equals plain greedy output, batch 1 and a padded batch,
dynamic and static cache; SJD (probabilistic Jacobi drafts under core/exact)
keeps the target's sampling distribution over whole sequences; the windows and
the adjacency table move the way the papers describe.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import arkit
from arkit.drafters.jacobi import JacobiDrafter
from arkit.drafters.token_recycling import TokenRecycling

from .helpers import (sequence_counts, sequence_distribution, tiny_pipeline, toy_target, tv_distance,
                      tv_tolerance)

PROMPTS = {
    "batch 1": [list(b"the cat sat on the mat. the cat")],
    "padded batch of 3": [list(b"abc abc abc ab"), list(b"x"), list(b"hello world, hello")],
}
DRAFTERS = {
    "jacobi": lambda: JacobiDrafter(),
    "jacobi-none": lambda: JacobiDrafter(init="none"),
    "sjd": lambda: JacobiDrafter(probabilistic=True, seed=3),
    "token-recycling": lambda: TokenRecycling(vocab_size=259, m=4),
    "token-recycling-tree": lambda: TokenRecycling(vocab_size=259, m=4, tree_width=3),
}


@pytest.mark.parametrize("cache", ["core/dynamic", "core/static"])
@pytest.mark.parametrize("batch", sorted(PROMPTS))
@pytest.mark.parametrize("name", sorted(DRAFTERS))
def test_greedy_speculative_equals_plain_greedy(name: str, batch: str, cache: str) -> None:
    target = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    prompts = PROMPTS[batch]
    plain = target.generate(prompt_ids=prompts, max_new_tokens=40, output_logprobs=True)
    fast = target.replace(drafter=DRAFTERS[name]()).generate(prompt_ids=prompts, max_new_tokens=40,
                                                            num_draft_tokens=4, output_logprobs=True)
    assert fast.sequences == plain.sequences
    for a, b in zip(fast.logprobs, plain.logprobs):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-4, rtol=0)
    assert fast.speculative.accepted > 0 or not name.startswith("token-recycling")  # a random tiny model loops


def test_the_recycling_table_persists_across_generations() -> None:
    target = tiny_pipeline()
    drafter = TokenRecycling(vocab_size=259, m=4)
    fast = target.replace(drafter=drafter)
    prompts = PROMPTS["padded batch of 3"]
    first = fast.generate(prompt_ids=prompts, max_new_tokens=30, num_draft_tokens=4)
    second = fast.generate(prompt_ids=prompts, max_new_tokens=30, num_draft_tokens=4)
    assert first.sequences == second.sequences
    assert second.speculative.mean_accepted_per_call > first.speculative.mean_accepted_per_call
    assert int((drafter.table[:, 0] >= 0).sum()) > 0


def test_recycling_keeps_each_tokens_latest_top_m_and_follows_the_best() -> None:
    drafter = TokenRecycling(vocab_size=6, m=2)
    logits = torch.full((1, 3, 6), -5.0)
    logits[0, 0, [4, 1]] = torch.tensor([3.0, 2.0])  # after 2: 4, then 1
    logits[0, 1, [5, 0]] = torch.tensor([3.0, 2.0])  # after 4: 5, then 0
    logits[0, 2, [3, 2]] = torch.tensor([3.0, 2.0])  # after 2 again: 3, then 2 (the latest wins)
    drafter.observe(arkit.Verification(tokens=torch.tensor([[2, 4, 2]]), hidden=torch.zeros(1, 3, 1),
                                       logits=logits, accepted=torch.tensor([2]), next_tokens=torch.tensor([3])))
    assert drafter.table[2].tolist() == [3, 2] and drafter.table[4].tolist() == [5, 0]
    draft = drafter.propose(torch.tensor([[-1, 1, 4], [0, 0, 1]]), 3)
    assert draft.tokens[0, :1].tolist() == [5] and draft.lengths.tolist() == [1, 0]  # 5 has no known successor


def test_a_recycling_tree_ranks_paths_by_their_successor_ranks() -> None:
    drafter = TokenRecycling(vocab_size=6, m=3, tree_width=2)
    drafter.table[1] = torch.tensor([2, 3, 4])
    drafter.table[2] = torch.tensor([5, 1, -1])
    drafter.table[3] = torch.tensor([0, -1, -1])
    draft = drafter.propose(torch.tensor([[0, 1]]), 5)
    # from 1: 2 (rank 0), 3 (1); from 2: 5 (cost 0), 1 (1); from 3: 0 (1); from 5 nothing is known
    assert draft.tokens[0].tolist() == [2, 5, 3, 1, 0] and draft.parents[0].tolist() == [-1, 0, -1, 0, 2]
    assert draft.lengths.tolist() == [5] and drafter.tree_drafts


def test_jacobi_shifts_the_predictions_after_the_kept_prefix_into_the_next_window() -> None:
    drafter = JacobiDrafter()
    V = 9
    predicted = torch.tensor([[3, 4, 5, 6, 7], [1, 2, 3, 4, 5]])  # argmax at each of the 5 pass positions
    logits = torch.nn.functional.one_hot(predicted, V).float()
    drafter.observe(arkit.Verification(tokens=torch.zeros(2, 5, dtype=torch.long), hidden=torch.zeros(2, 5, 1),
                                       logits=logits, accepted=torch.tensor([1, 4]), next_tokens=torch.tensor([4, 5])))
    draft = drafter.propose(torch.tensor([[0, 4], [0, 5]]), 4)
    # row 0 kept 1 draft: positions 2..4 predict the 3 tokens after its new pending token; the 4th repeats
    assert draft.tokens.tolist() == [[5, 6, 7, 7], [5, 5, 5, 5]] and draft.lengths.tolist() == [4, 4]
    none = JacobiDrafter(init="none")
    none.observe(arkit.Verification(tokens=torch.zeros(2, 5, dtype=torch.long), hidden=torch.zeros(2, 5, 1),
                                    logits=logits, accepted=torch.tensor([1, 4]), next_tokens=torch.tensor([4, 5])))
    assert none.propose(torch.tensor([[0, 4], [0, 5]]), 4).lengths.tolist() == [3, 0]


def test_jacobi_fills_the_slots_no_prediction_reaches_from_the_context() -> None:
    """init="context" (the default): what followed the last known token's most recent earlier occurrence."""
    fresh = JacobiDrafter()
    # row 0: pending 1 occurred at 0, followed by 2 3 4 and the pending 1 itself; row 1: 9 never occurred
    draft = fresh.propose(torch.tensor([[1, 2, 3, 4, 1], [-1, 5, 6, 7, 9]]), 5)
    assert draft.tokens.tolist() == [[2, 3, 4, 1, 1], [9, 9, 9, 9, 9]] and draft.lengths.tolist() == [5, 5]
    assert JacobiDrafter(init="repeat").propose(torch.tensor([[1, 2, 3, 4, 1]]), 3).tokens.tolist() == [[1, 1, 1]]
    # after a pass: the predictions first, then the context's continuation of the last predicted token
    V = 9
    logits = torch.nn.functional.one_hot(torch.tensor([[3, 4, 2]]), V).float()
    fresh.observe(arkit.Verification(tokens=torch.zeros(1, 3, dtype=torch.long), hidden=torch.zeros(1, 3, 1),
                                     logits=logits, accepted=torch.tensor([0]), next_tokens=torch.tensor([3])))
    assert fresh.propose(torch.tensor([[2, 7, 8, 5, 3]]), 4).tokens.tolist() == [[4, 2, 7, 8]]


def test_sjd_drafts_carry_the_distribution_they_were_drawn_from() -> None:
    drafter = JacobiDrafter(probabilistic=True, temperature=0.5, seed=0)
    logits = torch.randn(2, 4, 7, generator=torch.Generator().manual_seed(0))
    drafter.observe(arkit.Verification(tokens=torch.zeros(2, 4, dtype=torch.long), hidden=torch.zeros(2, 4, 1),
                                       logits=logits, accepted=torch.tensor([0, 1]), next_tokens=torch.tensor([0, 0])))
    draft = drafter.propose(torch.tensor([[1], [2]]), 3)
    torch.testing.assert_close(draft.probs[0], (logits[0, 1:] / 0.5).softmax(-1))
    torch.testing.assert_close(draft.probs[1, :2], (logits[1, 2:] / 0.5).softmax(-1))
    assert draft.probs[1, 2, draft.tokens[1, 2]] == 1.0  # the filled-in slot is deterministic


# -- sampling: SJD = probabilistic Jacobi drafts + core/exact keeps the target's distribution ----------
V, NEW, PROMPT = 4, 3, [1, 2, 1]


@pytest.mark.parametrize("name", ["sjd", "token-recycling"])
def test_sampling_under_exact_acceptance_keeps_the_target_distribution(name: str) -> None:
    target = toy_target(V, sampler=arkit.create("sampler", "core/chain", steps=[
        {"name": "core/top-k", "config": {"k": 3}}, {"name": "core/temperature", "config": {"temperature": 0.8}}]))
    drafter = JacobiDrafter(probabilistic=True, temperature=1.5, seed=1) if name == "sjd" else TokenRecycling(
        vocab_size=V, m=2)
    exact = sequence_distribution(target, PROMPT, NEW)
    n = 20_000
    out = target.replace(drafter=drafter).generate(prompt_ids=[PROMPT] * n, max_new_tokens=NEW, eos_token_ids=(),
                                                   seed=5, num_draft_tokens=2,
                                                   draft_schedule="constant")
    assert 0 < out.speculative.accepted < out.speculative.drafted
    assert tv_distance(sequence_counts(out.sequences), exact, n) < tv_tolerance(exact, n)


def test_bad_parameters_get_config_errors() -> None:
    for bad in ({"probabilistic": 1}, {"temperature": 0}, {"temperature": True}, {"init": "random"},
                {"seed": 1.5}):
        with pytest.raises(arkit.ConfigError):
            JacobiDrafter(**bad)
    for bad in ({"vocab_size": 0}, {"m": 0}, {"m": 300}, {"vocab_size": 10.0}):
        with pytest.raises(arkit.ConfigError):
            TokenRecycling(**{"vocab_size": 259, "m": 4, **bad})
    with pytest.raises(arkit.ConfigError, match="vocab"):
        tiny_pipeline().replace(drafter=TokenRecycling(vocab_size=100))
    with pytest.raises(arkit.ConfigError):
        tiny_pipeline().replace(drafter=JacobiDrafter()).generate(prompt_ids=[[1, 2]], max_new_tokens=3,
                                                                  num_draft_tokens=0)
