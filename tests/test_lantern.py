"""LANTERN relaxed acceptance (core/lantern): lossy, but within total variation delta of the target.

Measured both at the rule (one position, many draws) and through the pipeline (a
small-vocabulary toy target, whole sequences enumerated): the emitted
distribution stays within ``delta`` of the target's, plus a sampling tolerance
derived from the sample size, while it keeps more drafts than exact acceptance.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import arkit
from arkit.acceptance.lantern import LanternAcceptance

from .helpers import sequence_counts, sequence_distribution, toy_target, tv_distance, tv_tolerance

NEIGHBOURS = [[1, 3], [0, 2], [1, 3], [2, 1], [5], [4, 3]]


def _tv(counts: torch.Tensor, q: torch.Tensor) -> float:
    return 0.5 * float((counts / counts.sum() - q).abs().sum())


def test_the_relaxed_distribution_moves_at_most_delta_onto_the_draft_token() -> None:
    rule = LanternAcceptance(neighbours=NEIGHBOURS, delta=0.25)
    q = torch.tensor([0.1, 0.15, 0.2, 0.05, 0.3, 0.2])
    relaxed = rule.relaxed(q[None], torch.tensor([1]))[0]
    # 1's neighbours closest first: 0 (0.1 fits), then 2 (0.1 + 0.2 > 0.25 does not): 0's mass moves to 1
    torch.testing.assert_close(relaxed, torch.tensor([0.0, 0.25, 0.2, 0.05, 0.3, 0.2]))
    assert 0.5 * float((relaxed - q).abs().sum()) <= 0.25
    masked = rule.relaxed(torch.tensor([[0.5, 0.0, 0.5, 0, 0, 0]]), torch.tensor([1]))[0]
    assert masked[1] == 0  # a token the target rules out is never relaxed


@pytest.mark.parametrize("with_probs", [False, True], ids=["deterministic draft", "sampled draft"])
@pytest.mark.parametrize("delta", [0.0, 0.1, 0.3])
def test_at_one_position_the_output_stays_within_delta_of_the_target(delta: float, with_probs: bool) -> None:
    rule = LanternAcceptance(neighbours=NEIGHBOURS, delta=delta)
    g = torch.Generator().manual_seed(0)
    q = torch.tensor([0.2, 0.08, 0.25, 0.1, 0.17, 0.2])
    p = torch.tensor([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    n = 100_000
    tokens = torch.multinomial(p, n, replacement=True, generator=g)[:, None] if with_probs else torch.zeros(n, 1, dtype=torch.long)
    draft = arkit.Draft(tokens=tokens, probs=p.expand(n, 1, 6) if with_probs else None)
    accepted, following = rule.accept(draft, q.expand(n, 2, 6), g)
    emitted = torch.where(accepted > 0, tokens[:, 0], following)  # the token at the draft's position
    tv = _tv(torch.bincount(emitted, minlength=6).float(), q)
    assert tv <= delta + tv_tolerance(6, n)
    exact = arkit.create("acceptance", "core/exact").accept(draft, q.expand(n, 2, 6), g)[0]
    if delta > 0:
        assert float(accepted.float().mean()) > float(exact.float().mean() if not with_probs else
                                                      (torch.rand(n, generator=g) < q[tokens[:, 0]]).float().mean())
        assert tv > 2 * tv_tolerance(6, n)  # the relaxation did move probability


# -- through the pipeline: a toy target, sequences enumerated ------------------------------------------
V, NEW, PROMPT = 4, 3, [1, 2, 1]
TOY_NEIGHBOURS = [[1, 2, 3], [0, 2, 3], [1, 3, 0], [2, 1, 0]]


class NextIdDrafter:
    """A deliberately poor, deterministic drafter: the id after the last one."""

    config: dict[str, Any] = {}

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        last = tokens[:, -1:].clamp(min=0)
        return arkit.Draft(tokens=(last + 1 + torch.arange(k)) % V)


class FirstThree:
    """A constraint: ids 0, 1 and 2 only."""

    def start(self) -> int:
        return 0

    def allowed(self, state: int) -> list[int]:
        return [0, 1, 2]

    def advance(self, state: int, token: int) -> int:
        return state + 1

    def complete(self, state: int) -> bool:
        return True


def _toy(acceptance: Any) -> arkit.Pipeline:
    return toy_target(V, init_std=0.3, drafter=NextIdDrafter(), acceptance=acceptance)


def test_through_the_pipeline_sequences_stay_within_delta_of_the_target() -> None:
    delta, n = 0.3, 20_000
    lantern = _toy(LanternAcceptance(neighbours=TOY_NEIGHBOURS, delta=delta))
    exact = sequence_distribution(lantern, PROMPT, NEW)
    # one draft token per pass: only the second token is ever relaxed, so whole sequences stay within delta
    runs = {name: pipe.generate(prompt_ids=[PROMPT] * n, max_new_tokens=NEW, eos_token_ids=(), seed=5,
                                num_draft_tokens=1, draft_schedule="constant")
            for name, pipe in (("lantern", lantern), ("exact", _toy(None)))}
    tvs = {}
    for name, out in runs.items():
        tvs[name] = tv_distance(sequence_counts(out.sequences), exact, n)
    tolerance = tv_tolerance(len(exact), n)
    assert tvs["lantern"] <= delta + tolerance
    assert tvs["exact"] <= tolerance
    assert runs["lantern"].speculative.acceptance_rate > runs["exact"].speculative.acceptance_rate + 0.05


def test_constraints_hold_under_relaxed_acceptance() -> None:
    pipe = _toy(LanternAcceptance(neighbours=TOY_NEIGHBOURS, delta=0.5))
    out = pipe.generate(prompt_ids=[PROMPT] * 200, max_new_tokens=6, eos_token_ids=(), seed=1, num_draft_tokens=3,
                        draft_schedule="constant", constraint=FirstThree())
    assert all(t in (0, 1, 2) for seq in out.sequences for t in seq)


def test_neighbourhoods_from_embeddings_are_the_nearest_rows() -> None:
    codebook = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    rule = LanternAcceptance.from_embeddings(codebook, k=2, delta=0.2, metric="l2")
    assert rule.config["neighbours"] == [[1, 2], [0, 2], [0, 1], [2, 1]] and rule.delta == 0.2
    cosine = LanternAcceptance.from_embeddings(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), k=1)
    assert cosine.config["neighbours"] == [[1], [0], [1]]


def test_bad_parameters_get_config_errors() -> None:
    for bad in ({"delta": 1.0}, {"delta": -0.1}, {"delta": True}, {"neighbours": []}, {"neighbours": [[1], [5]]},
                {"neighbours": "ab"}, {"neighbours": [[1], 0]}):
        with pytest.raises(arkit.ConfigError):
            LanternAcceptance(**{"neighbours": [[1], [0]], "delta": 0.1, **bad})
    for args in ((torch.zeros(1, 2), 1), (torch.zeros(4, 2), 4), (torch.zeros(4), 1)):
        with pytest.raises(arkit.ConfigError):
            LanternAcceptance.from_embeddings(*args)
    with pytest.raises(arkit.ConfigError):
        LanternAcceptance.from_embeddings(torch.zeros(4, 2), 2, metric="dot")
    with pytest.raises(arkit.GenerationError, match="vocabulary"):
        LanternAcceptance(neighbours=[[1], [0]]).accept(arkit.Draft(tokens=torch.zeros(1, 1, dtype=torch.long)),
                                                        torch.full((1, 2, 3), 1 / 3), None)


def _acceptance(rule: Any, draft: arkit.Draft, q: torch.Tensor, n: int = 4000) -> float:
    g = torch.Generator().manual_seed(0)
    return sum(int(rule.accept(draft, q, g)[0][0]) for _ in range(n)) / n


def test_the_ratio_test_accepts_sampled_drafts_more_often_than_exact() -> None:
    neighbours = [[1, 2], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 4]]
    # the target spreads its mass over 2, 3, 4; the draft model puts most of its mass on 3
    q = torch.tensor([[0.0, 0.05, 0.3, 0.3, 0.3, 0.05, 0.0]] * 2)[None]  # [B=1, k+1=2, V]
    p = torch.tensor([[0.0, 0.0, 0.1, 0.8, 0.1, 0.0, 0.0]])[None]  # [1, k=1, V]
    sampled = arkit.Draft(tokens=torch.tensor([[3]]), probs=p)
    n = 4000
    sigma = (0.25 / n) ** 0.5  # the largest standard deviation of an acceptance frequency
    exact = _acceptance(arkit.create("acceptance", "core/exact"), sampled, q, n)
    plain = _acceptance(LanternAcceptance(neighbours=neighbours, delta=0.3), sampled, q, n)
    ratio = _acceptance(LanternAcceptance(neighbours=neighbours, delta=0.3, ratio_test=True), sampled, q, n)
    # exact keeps 3 with min(1, 0.3 / 0.8); relaxed, 3 takes 2's 0.3: the default keeps it with q_d(3) = 0.6,
    # the ratio test with min(1, 0.6 / 0.8)
    assert abs(exact - 0.375) < 5 * sigma and abs(plain - 0.6) < 5 * sigma and abs(ratio - 0.75) < 5 * sigma
    deterministic = arkit.Draft(tokens=torch.tensor([[3]]))  # no probs: the same rule either way
    assert _acceptance(LanternAcceptance(neighbours=neighbours, delta=0.3, ratio_test=True), deterministic, q, 500) \
        == _acceptance(LanternAcceptance(neighbours=neighbours, delta=0.3), deterministic, q, 500)
    with pytest.raises(arkit.ConfigError, match="ratio_test"):
        LanternAcceptance(neighbours=neighbours, ratio_test="yes")  # type: ignore[arg-type]
