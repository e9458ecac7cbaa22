"""Speculative decoding: the verification loop, the acceptance rules and core/prompt-lookup.

Correctness is checked against plain decoding with the same target: greedy
outputs (and their log-probabilities, a sensitive probe of the cache) must be
identical whatever the drafter proposes, and exact speculative sampling must
reproduce the target's distribution over whole sequences.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.constraints.state_machine import StateMachineConstraint

from .helpers import (sequence_counts, sequence_distribution, tiny_pipeline, toy_target, tv_distance,
                      tv_tolerance)


class Oracle:
    """Proposes the plain greedy continuation, cut at a random point and followed by random tokens.

    It knows each row's full plain output (``reference``), so drafts have random
    acceptance patterns: all, none or a prefix, differently per row and pass.
    """

    config: dict = {}

    def __init__(self, reference: list[list[int]], vocab: int, seed: int) -> None:
        self.reference, self.vocab = reference, vocab
        self.generator = torch.Generator().manual_seed(seed)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        rows = []
        for row, context in enumerate(tokens.tolist()):
            n = sum(t >= 0 for t in context)
            truth = self.reference[row][n : n + k]
            cut = int(torch.randint(0, k + 1, (1,), generator=self.generator))
            noise = torch.randint(0, self.vocab, (k,), generator=self.generator).tolist()
            rows.append((truth[:cut] + noise)[:k])
        lengths = torch.randint(0, k + 1, (len(rows),), generator=self.generator)
        return arkit.Draft(tokens=torch.tensor(rows), lengths=lengths)


def _plain_and_fast(pipe: arkit.Pipeline, prompts: list[list[int]], drafter: Any, **options: Any) -> tuple[Any, Any]:
    plain = pipe.generate(prompt_ids=prompts, output_logprobs=True, **options)
    fast = pipe.replace(drafter=drafter).generate(prompt_ids=prompts, output_logprobs=True, **options)
    return plain, fast


@settings(max_examples=25)
@given(
    prompts=st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=8), min_size=1, max_size=3),
    k=st.integers(1, 5),
    seed=st.integers(0, 10_000),
    cache=st.sampled_from(["core/dynamic", "core/static"]),
)
def test_greedy_speculative_equals_greedy_whatever_is_drafted(prompts: list[list[int]], k: int, seed: int,
                                                               cache: str) -> None:
    """Random draft lengths and acceptance patterns per row never corrupt the cache."""
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    options = dict(max_new_tokens=12, eos_token_ids=(), num_draft_tokens=k)
    plain = pipe.generate(prompt_ids=prompts, output_logprobs=True, **options)
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    fast = pipe.replace(drafter=Oracle(reference, 259, seed)).generate(prompt_ids=prompts, output_logprobs=True,
                                                                       **options)
    assert fast.sequences == plain.sequences
    for got, want in zip(fast.logprobs, plain.logprobs):  # same logits, so the cache held the same keys and values
        assert got == pytest.approx(want, abs=1e-4)
    stats = fast.speculative
    assert stats.generated == sum(len(s) for s in plain.sequences)
    assert 0 <= stats.accepted <= stats.drafted
    assert stats.target_calls + 1 == fast.num_steps


@pytest.mark.parametrize("cache", ["core/dynamic", "core/static"])
def test_prompt_lookup_is_lossless_and_saves_target_calls_on_repetitive_text(cache: str) -> None:
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    prompts = ["abcabcabcabcabc", "the cat the cat the cat", "x"]
    plain = pipe.generate(prompts, max_new_tokens=30, eos_token_ids=())
    fast = pipe.replace(drafter=arkit.create("drafter", "core/prompt-lookup")).generate(
        prompts, max_new_tokens=30, eos_token_ids=())
    assert fast.sequences == plain.sequences
    assert fast.finish_reasons == plain.finish_reasons
    assert fast.speculative.accepted > 0
    # this random model falls into a loop on the first prompt: copying it saves target passes
    one = pipe.replace(drafter=arkit.create("drafter", "core/prompt-lookup")).generate(
        prompts[:1], max_new_tokens=30, eos_token_ids=())
    assert one.sequences[0] == plain.sequences[0]
    assert one.num_steps < 30 and one.speculative.mean_accepted_per_call > 1.0


def test_prompt_lookup_copies_the_most_recent_match() -> None:
    lookup = arkit.create("drafter", "core/prompt-lookup", max_ngram=2)
    tokens = torch.tensor([[-1, 5, 6, 7, 5, 6, 8, 9, 5, 6], [-1, -1, -1, -1, -1, -1, 1, 2, 3, 4]])
    draft = lookup.propose(tokens, 3)
    assert draft.tokens[0].tolist() == [8, 9, 5]  # after the latest earlier "5 6"
    assert draft.lengths.tolist() == [3, 0]  # row 1 has no earlier match
    loop = lookup.propose(torch.tensor([[1, 2, 3, 1, 2, 3, 1, 2]]), 5)
    assert loop.tokens[0].tolist() == [3, 1, 2, 3, 1]  # a repeating tail: the period goes on


def test_streaming_with_a_drafter_matches_generate() -> None:
    pipe = tiny_pipeline().replace(drafter=arkit.create("drafter", "core/prompt-lookup"))
    prompts = ["abab abab abab", "zz"]
    out = pipe.generate(prompts, max_new_tokens=15, eos_token_ids=())
    rows: dict[int, list[int]] = {0: [], 1: []}
    for event in pipe.stream(prompts, max_new_tokens=15, eos_token_ids=()):
        assert event.index == len(rows[event.row])
        rows[event.row].append(event.token_id)
    assert tuple(tuple(rows[r]) for r in (0, 1)) == out.sequences


class Truth:
    """Proposes the reference continuation of row 0 exactly (every draft token is kept)."""

    config: dict = {}

    def __init__(self, reference: list[int]) -> None:
        self.reference = reference

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        rest = self.reference[int((tokens[0] >= 0).sum()):][:k]
        return arkit.Draft(tokens=torch.tensor([rest + [0] * (k - len(rest))]), lengths=torch.tensor([len(rest)]))


class SometimesWrong:
    """Proposes each row's reference continuation with every ``wrong``-th draft token wrong, so drafts are kept
    in part and whole."""

    config: dict = {}

    def __init__(self, prompts: list[list[int]], references: tuple[tuple[int, ...], ...], wrong: int) -> None:
        self.starts = [len(p) for p in prompts]
        self.references, self.wrong = references, wrong

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        rows = []
        for b, row in enumerate(tokens.tolist()):
            done = sum(t >= 0 for t in row) - self.starts[b]
            rest = list(self.references[b][done : done + k])
            rest = [(t + 1) % 256 if (done + j) % self.wrong == self.wrong - 1 else t for j, t in enumerate(rest)]
            rows.append(rest + [0] * (k - len(rest)))
        return arkit.Draft(tokens=torch.tensor(rows), lengths=torch.tensor([min(k, len(r)) for r in rows]))


def test_each_draft_position_is_scored_with_its_own_context() -> None:
    # Processors that read the tokens before each position (penalties, bans) see every position of a pass as
    # plain decoding saw it: the same tokens, so the same scores and log-probabilities.
    chain = arkit.create("sampler", "core/chain", steps=[
        {"name": "core/repetition-penalty", "config": {"penalty": 1.5}},
        {"name": "core/no-repeat-ngram", "config": {"n": 2}},
        {"name": "core/greedy"},
    ])
    pipe = tiny_pipeline().replace(sampler=chain)
    prompts = [list(b"abcabcabc"), list(b"xy"), list(b"hello there")]
    options: dict[str, Any] = {"max_new_tokens": 24, "eos_token_ids": (), "output_logprobs": True}
    plain = pipe.generate(prompt_ids=prompts, **options)
    for wrong in (3, 7):
        fast = pipe.replace(drafter=SometimesWrong(prompts, plain.sequences, wrong)).generate(
            prompt_ids=prompts, draft_schedule="constant", num_draft_tokens=4, **options)
        assert fast.sequences == plain.sequences
        assert 0 < fast.speculative.accepted < fast.speculative.drafted
        for ours, theirs in zip(fast.logprobs, plain.logprobs):
            assert ours == pytest.approx(theirs, abs=1e-5)


def test_min_new_tokens_counts_the_draft_tokens_before_each_position() -> None:
    # Row 0 first emits ``eos`` at index m, so min_new_tokens=m holds nothing back; a pass that counted only the
    # tokens before it (not the draft tokens before each position) would hold ``eos`` back at a draft position.
    pipe, prompts = tiny_pipeline(), [list(b"abcabcabc"), list(b"xy")]
    free = pipe.generate(prompt_ids=prompts, max_new_tokens=24, eos_token_ids=()).sequences
    m = next(m for m in range(4, 20) if free[0][m] not in free[0][:m])
    options: dict[str, Any] = {"max_new_tokens": 24, "eos_token_ids": (free[0][m],), "min_new_tokens": m}
    plain = pipe.generate(prompt_ids=prompts, **options)
    assert plain.sequences[0] == free[0][: m + 1] and plain.finish_reasons[0] == "eos"
    for wrong in (3, 100):
        fast = pipe.replace(drafter=SometimesWrong(prompts, plain.sequences, wrong)).generate(
            prompt_ids=prompts, draft_schedule="constant", num_draft_tokens=4, **options)
        assert fast.sequences == plain.sequences and fast.finish_reasons == plain.finish_reasons


def test_stops_inside_an_accepted_draft_are_honoured() -> None:
    pipe = tiny_pipeline()
    plain = pipe.generate(["abcabcabc"], max_new_tokens=20, eos_token_ids=())
    stop = list(plain.sequences[0][3:5])
    expected = pipe.generate(["abcabcabc"], max_new_tokens=20, eos_token_ids=(), stop_sequences=[stop])
    fast = pipe.replace(drafter=Truth(list(pipe.encode("abcabcabc")) + list(plain.sequences[0]))).generate(
        ["abcabcabc"], max_new_tokens=20, eos_token_ids=(), stop_sequences=[stop], num_draft_tokens=5)
    assert fast.sequences == expected.sequences and fast.finish_reasons == ("stop_sequence",)
    assert fast.speculative.accepted == fast.speculative.drafted or fast.speculative.accepted >= 3


# -- exact speculative sampling reproduces the target's distribution ----------------------------------


V, NEW, PROMPT = 4, 3, [1, 2]


class PoorDrafter:
    """Draws each token from a fixed distribution unrelated to the target, and says so (``probs``)."""

    config: dict = {}

    def __init__(self, probs: list[float], seed: int = 0) -> None:
        self.p = torch.tensor(probs)
        self.generator = torch.Generator().manual_seed(seed)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        B = tokens.shape[0]
        drafted = torch.multinomial(self.p.expand(B * k, -1), 1, replacement=True, generator=self.generator)
        return arkit.Draft(tokens=drafted.view(B, k), probs=self.p.expand(B, k, -1).clone())


def _sample(pipe: arkit.Pipeline, n: int, seed: int, constraint: Any = None) -> dict[tuple[int, ...], int]:
    # constant: every pass drafts (at this batch size the adaptive schedule would find drafting not worth it,
    # and the test would check plain decoding)
    out = pipe.generate(prompt_ids=[PROMPT] * n, max_new_tokens=NEW, eos_token_ids=(), seed=seed,
                        num_draft_tokens=2, constraint=constraint, draft_schedule="constant")
    return sequence_counts(out.sequences)


SAMPLERS = {
    "multinomial": lambda: arkit.create("sampler", "core/multinomial"),
    "top-k + temperature": lambda: arkit.create("sampler", "core/chain", steps=[
        {"name": "core/top-k", "config": {"k": 3}}, {"name": "core/temperature", "config": {"temperature": 0.7}}]),
    "top-p": lambda: arkit.create("sampler", "core/top-p", p=0.8),
}


@pytest.mark.parametrize("sampler", sorted(SAMPLERS))
def test_exact_speculative_sampling_has_the_target_distribution(sampler: str) -> None:
    target = toy_target(V, sampler=SAMPLERS[sampler]())
    exact = sequence_distribution(target, PROMPT, NEW)
    n = 30_000
    drafter = PoorDrafter([0.7, 0.1, 0.1, 0.1])
    counts = _sample(target.replace(drafter=drafter), n, seed=5)
    assert tv_distance(counts, exact, n) < tv_tolerance(exact, n)


def test_exact_speculative_sampling_under_a_constraint() -> None:
    # tokens 0 and 3 alternate with anything but 2
    fsm = StateMachineConstraint({0: {0: 1, 1: 1, 3: 1}, 1: {1: 0, 3: 0}}, start=0, accept={0, 1})
    target = toy_target(V)
    exact = sequence_distribution(target, PROMPT, NEW, constraint=fsm)
    n = 30_000
    counts = _sample(target.replace(drafter=PoorDrafter([0.1, 0.1, 0.7, 0.1])), n, seed=6, constraint=fsm)
    assert all(exact[s] > 0 for s in counts), "a sequence the constraint forbids was generated"
    assert tv_distance(counts, exact, n) < tv_tolerance(exact, n)


def test_the_distribution_test_detects_a_lossy_rule() -> None:
    """Typical acceptance with a tiny threshold keeps almost any draft: the same check must reject it."""
    target = toy_target(V)
    exact = sequence_distribution(target, PROMPT, NEW)
    n = 30_000
    lossy = target.replace(drafter=PoorDrafter([0.25, 0.25, 0.25, 0.25]),
                           acceptance=arkit.create("acceptance", "core/typical-acceptance", posterior_threshold=0.001,
                                                   posterior_alpha=0.001))
    assert tv_distance(_sample(lossy, n, seed=5), exact, n) > tv_tolerance(exact, n)


# -- constraints, stats, bad input ---------------------------------------------------------------------


def test_speculative_decoding_under_a_trie_constraint_matches_plain_greedy() -> None:
    pipe = tiny_pipeline()
    words = [list(b"cat"), list(b"catalog"), list(b"dog"), list(b"dogma")]
    trie = arkit.TrieConstraint(words, eos_token_id=257)
    plain = pipe.generate(["pick: ", "pick: "], constraint=trie, max_new_tokens=10)
    drafter = Oracle([[0] * 64, [0] * 64], 259, 1)  # junk drafts: every one must be refused by the mask
    fast = pipe.replace(drafter=drafter).generate(["pick: ", "pick: "], constraint=trie, max_new_tokens=10)
    assert fast.sequences == plain.sequences
    for seq in fast.sequences:
        body = [t for t in seq if t != 257]
        assert body in words


def test_bad_speculative_input_gets_clear_errors() -> None:
    pipe = tiny_pipeline()
    lookup = arkit.create("drafter", "core/prompt-lookup")
    with pytest.raises(arkit.ConfigError, match="num_draft_tokens"):
        pipe.replace(drafter=lookup).generate(["ab"], num_draft_tokens=0)
    with pytest.raises(arkit.ConfigError, match="beam search does not use a drafter"):
        pipe.replace(drafter=lookup).generate(["ab"], num_beams=2)
    with pytest.raises(arkit.ConfigError, match="evicts"):
        pipe.replace(drafter=lookup, cache=arkit.create("cache", "core/sliding", window=8)).generate(["ab"])
    with pytest.raises(arkit.ConfigError, match="min_ngram"):
        arkit.create("drafter", "core/prompt-lookup", max_ngram=1, min_ngram=2)
    with pytest.raises(arkit.ConfigError, match="posterior_alpha"):
        arkit.create("acceptance", "core/typical-acceptance", posterior_alpha=1.5)

    class Wrong:
        config: dict = {}

        def __init__(self, tokens: Any) -> None:
            self.tokens = tokens

        def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
            return arkit.Draft(tokens=self.tokens(tokens.shape[0], k))

    with pytest.raises(arkit.GenerationError, match="shape"):
        pipe.replace(drafter=Wrong(lambda b, k: torch.zeros(b, k + 1, dtype=torch.long))).generate(["ab"])
    with pytest.raises(arkit.GenerationError, match="vocabulary"):
        pipe.replace(drafter=Wrong(lambda b, k: torch.full((b, k), 999))).generate(["ab"])


def test_a_pipeline_with_a_drafter_and_a_rule_saves_and_loads(tmp_path: Any) -> None:
    pipe = tiny_pipeline().replace(drafter=arkit.create("drafter", "core/prompt-lookup", max_ngram=4),
                                   acceptance=arkit.create("acceptance", "core/greedy-match"))
    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "p"))
    assert loaded.drafter.config == {"max_ngram": 4, "min_ngram": 1}
    assert type(loaded.acceptance).__name__ == "GreedyMatch"
    a = pipe.generate(["abab abab"], max_new_tokens=10, eos_token_ids=())
    b = loaded.generate(["abab abab"], max_new_tokens=10, eos_token_ids=())
    assert a.sequences == b.sequences
    assert (a.speculative.drafted, a.speculative.accepted) == (b.speculative.drafted, b.speculative.accepted)


class WrongDrafter:
    """Always proposes token 0 after the pending token: a random model never emits it."""

    config: dict = {}

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        return arkit.Draft(tokens=torch.zeros(tokens.shape[0], k, dtype=torch.long))


def test_the_adaptive_schedule_stops_drafting_for_a_failing_drafter() -> None:
    """Drafts that keep failing soon stop: the pass is a plain step, with a short probe now and then."""
    pipe = tiny_pipeline().replace(drafter=WrongDrafter())
    options = dict(max_new_tokens=60, eos_token_ids=(), num_draft_tokens=4)
    constant = pipe.generate(["hello"], draft_schedule="constant", **options)
    adaptive = pipe.generate(["hello"], **options)
    assert constant.sequences == adaptive.sequences
    assert constant.speculative.drafted > 3.5 * constant.speculative.target_calls  # 4 per pass, fewer near the end
    # a hopeful first pass or two, then a short probe every dozen passes or so (a probe costs about a third of
    # a plain step at batch 1 whatever its width: 4 + 4 + 3 tokens, then 3 every 12 passes)
    assert adaptive.speculative.drafted < 30 and adaptive.speculative.accepted == 0
