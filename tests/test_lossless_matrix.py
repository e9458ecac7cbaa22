"""The registry is the losslessness matrix: every registered drafter x every rule that claims ``lossless``.

Each case runs :func:`arkit.testing.lossless.check_lossless` (the same check plugin
authors get): a batch with mixed prompt lengths, the same under a constraint, and
batch-1 calls with varied and default seeds, each a chi-square test against the
exactly enumerated distribution of a vocabulary-5 target. The significance level is
shared by every test in this module (Bonferroni), so a lossless matrix fails with
probability below ``ALPHA``; every seed is fixed, so a run repeats exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch

import arkit
from arkit.drafters.jacobi import JacobiDrafter
from arkit.testing import DrafterContract, lossless
from tests.helpers import tiny_pipeline

ALPHA = 1e-3


def _datastore(target: Any) -> Any:
    """arkit-retrieval's n-gram datastore over a small corpus of the toy target's ids."""
    return arkit.create("drafter", "retrieval/datastore", documents=[[1, 2, 3, 0, 4, 1, 2, 3], [3, 0, 4, 1, 2, 0, 1]])


#: How drafters that need a config are built for the vocabulary-5 target (registry name -> {label: factory}).
OVERRIDES: dict[str, dict[str, Any]] = {"retrieval/datastore": {"retrieval/datastore": _datastore}}
CASES = lossless.registered_cases(OVERRIDES)
FAMILY = len(CASES) * len(lossless.CONDITIONS) + 1  # + the lossy rule's test


@pytest.mark.parametrize(("label", "make", "rule"), CASES, ids=[f"{label}+{rule}" for label, _, rule in CASES])
def test_every_registered_drafter_is_lossless_under_every_lossless_rule(label: str, make: Any, rule: str) -> None:
    lossless.assert_lossless(make, rule, name=label, alpha=ALPHA, family=FAMILY)


def test_the_matrix_covers_every_registered_drafter_and_lossless_rule() -> None:
    drafters = {info.name for info in arkit.list_components("drafter")}
    rules = {info.name for info in arkit.list_components("acceptance") if getattr(info.factory, "lossless", False)}
    covered = {(label.split("(")[0], rule) for label, _, rule in CASES}
    assert covered == {(d, r) for d in drafters for r in rules}
    assert "core/exact" in rules


class _AcceptAll:
    """A deliberately lossy rule that claims to be lossless: it keeps every draft token."""

    lossless = True
    config: Mapping[str, Any] = {}

    def accept(self, draft: arkit.Draft, target_probs: torch.Tensor, generator: Any) -> tuple[torch.Tensor, torch.Tensor]:
        B, k = draft.tokens.shape
        lengths = draft.lengths if draft.lengths is not None else torch.full((B,), k, dtype=torch.long)
        after = target_probs[torch.arange(B), lengths.clamp(max=target_probs.shape[1] - 1)]
        return lengths, torch.multinomial(after.float(), 1, generator=generator)[:, 0]


def test_the_check_rejects_a_lossy_rule_that_claims_to_be_lossless() -> None:
    results = lossless.check_lossless(lossless.BUILTIN_CASES["core/draft-model"]["core/draft-model(temperature=1)"],
                                      _AcceptAll, conditions=("batch",), alpha=ALPHA, family=FAMILY)
    assert [r.passed for r in results] == [False]
    assert results[0].tv > 2 * results[0].tv_null


def test_chi_square_pools_small_cells_and_gives_an_infinite_statistic_outside_the_support() -> None:
    exact = {(0,): 0.5, (1,): 0.49, (2,): 0.01}
    statistic, dof = lossless.chi_square({(0,): 50, (1,): 49, (2,): 1}, exact)
    assert statistic == pytest.approx(0.0) and dof == 1  # the 1-expected cell joins a neighbour: 2 bins
    assert lossless.chi_square({(3,): 1, (0,): 99}, exact)[0] == float("inf")
    assert lossless.chi_square_p(float("inf"), 3) == 0.0
    assert lossless.chi_square_p(3.0, 3) == pytest.approx(0.3916, abs=1e-4)  # scipy.stats.chi2.sf(3, 3)


# -- item 1: SJD draws its guesses from the generation's generator ---------------------------------------


def _guesses(drafter: JacobiDrafter, seed: int) -> list[int]:
    drafter.start(tiny_pipeline(), 1, generator=torch.Generator().manual_seed(seed))
    logits = torch.zeros(1, 4, 7)  # uniform predictions: every guess is a fair draw
    drafter.observe(arkit.Verification(tokens=torch.zeros(1, 4, dtype=torch.long), hidden=torch.zeros(1, 4, 1),
                                       logits=logits, accepted=torch.tensor([0]), next_tokens=torch.tensor([0])))
    return drafter.propose(torch.tensor([[1]]), 3).tokens[0].tolist()


def test_sjd_guesses_come_from_the_generator_the_loop_gives_it() -> None:
    drafter = JacobiDrafter(probabilistic=True)
    assert drafter.uses_generator
    assert _guesses(drafter, 1) == _guesses(drafter, 1)
    assert len({tuple(_guesses(drafter, s)) for s in range(10)}) > 1  # not a fixed function of the context


class _Recording:
    """core/exact, remembering whether each draft reached it with probs."""

    lossless = True
    config: Mapping[str, Any] = {}

    def __init__(self) -> None:
        self.rule = arkit.create("acceptance", "core/exact")
        self.with_probs: list[bool] = []

    def accept(self, draft: arkit.Draft, target_probs: torch.Tensor, generator: Any) -> Any:
        if draft.tokens.shape[1]:
            self.with_probs.append(draft.probs is not None)
        return self.rule.accept(draft, target_probs, generator)


class _OwnStream:
    """Samples drafts from a generator of its own and says so with probs: not the generation's draws."""

    config: Mapping[str, Any] = {}

    def __init__(self, vocab: int) -> None:
        self.p = torch.full((vocab,), 1.0 / vocab)
        self.generator = torch.Generator().manual_seed(0)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        B = tokens.shape[0]
        drafted = torch.multinomial(self.p.expand(B * k, -1), 1, replacement=True, generator=self.generator)
        return arkit.Draft(tokens=drafted.view(B, k), probs=self.p.expand(B, k, -1).clone())


class _GenerationStream(_OwnStream):
    def start(self, pipe: Any, batch_size: int, *, generator: torch.Generator | None = None) -> None:
        self.generator = generator


@pytest.mark.parametrize(("drafter", "probs_reach_the_rule"), [(_OwnStream, False), (_GenerationStream, True)])
def test_only_drafts_from_the_generations_generator_reach_the_rule_as_random(drafter: type,
                                                                            probs_reach_the_rule: bool) -> None:
    rule = _Recording()
    pipe = lossless.toy_target().replace(drafter=drafter(lossless.VOCAB), acceptance=rule)
    pipe.generate(prompt_ids=[[1, 2]], max_new_tokens=6, eos_token_ids=(), seed=0, draft_schedule="constant")
    assert rule.with_probs and set(rule.with_probs) == {probs_reach_the_rule}


def test_a_drafter_with_a_seed_of_its_own_is_treated_as_fixed_guesses() -> None:
    rule = _Recording()
    pipe = lossless.toy_target().replace(drafter=JacobiDrafter(probabilistic=True, seed=3), acceptance=rule)
    pipe.generate(prompt_ids=[[1, 2]], max_new_tokens=8, eos_token_ids=(), seed=0, draft_schedule="constant")
    assert rule.with_probs and not any(rule.with_probs)


# -- item 3: core/draft-model at batch > 1 when a row ends early ------------------------------------------


def test_draft_model_survives_rows_that_finish_before_any_hole() -> None:
    target = tiny_pipeline("core/multinomial")
    torch.manual_seed(1)
    draft = arkit.create("drafter", "core/draft-model", temperature=1.0, backbone={
        "name": "core/transformer", "config": {"vocab_size": target.head.vocab_size, "d_model": 16, "n_layers": 1,
                                               "n_heads": 2, "max_seq_len": 128}},
        head={"name": "core/categorical", "config": {"d_model": 16, "vocab_size": target.head.vocab_size}})
    pipe = target.replace(drafter=draft)
    eos = target.tokenizer.special_tokens.get("eos")
    for seed in range(20):
        # an eos on every likely token makes rows end early, one before the other
        out = pipe.generate(["ab", "xyz"], max_new_tokens=4, seed=seed,
                            eos_token_ids=tuple(range(0, target.head.vocab_size, 3)) + ((eos,) if eos else ()))
        assert len(out.sequences) == 2 and all(1 <= len(s) <= 4 for s in out.sequences)


def test_the_bench_command_prints_the_matrix_as_json(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from arkit import cli
    from arkit._bench import lossless as bench

    report = {"results": [], "all_lossless": True, "lossy_control": {"rejected": True}}
    monkeypatch.setattr(bench, "run", lambda **kwargs: report)
    assert cli.main(["bench", "lossless", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report
    monkeypatch.setattr(bench, "run", lambda **kwargs: {**report, "all_lossless": False})
    assert cli.main(["bench", "lossless", "--json"]) == 1


class TestTheDrafterContractHoldsADrafterToLosslessness(DrafterContract):
    """The contract kit's own losslessness test, as a plugin author would enable it."""

    component = "core/prompt-lookup"
    vocab_size = 40
    lossless_drafter = staticmethod(lambda target: arkit.create("drafter", "core/prompt-lookup", max_ngram=2))
