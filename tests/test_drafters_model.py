"""Draft-model drafters: core/draft-model, core/hierarchical (and core/prompt-lookup alongside).

Greedy speculative output must equal plain greedy output token for token, whatever
the drafter proposes; the draft model's own cache, rolled back and extended pass
after pass, must draft exactly what a fresh draft model would from the same
context; sampled drafts under exact acceptance must leave the target's
distribution over whole sequences unchanged.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit._bench._common import IdTokenizer
from arkit.drafters.draft_model import DraftModel
from arkit.drafters.hierarchical import HierarchicalDrafter

from .helpers import (sequence_counts, sequence_distribution, tiny_pipeline, toy_target, tv_distance,
                      tv_tolerance)


def _target(cache: str = "core/dynamic") -> arkit.Pipeline:
    return tiny_pipeline().replace(cache=arkit.create("cache", cache))


def _near_copy(pipe: arkit.Pipeline, noise: float, seed: int = 0) -> arkit.Pipeline:
    """The target's model with noise on its weights: a draft that agrees often, not always."""
    backbone, head = copy.deepcopy(pipe.backbone), copy.deepcopy(pipe.head)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in [*backbone.parameters(), *head.parameters()]:
            p.add_(noise * torch.randn(p.shape, generator=generator) * p.std().clamp(min=1e-3))
    return pipe.replace(backbone=backbone, head=head)


def _drafter(name: str, target: arkit.Pipeline, noise: float = 0.5) -> Any:
    if name == "core/prompt-lookup":
        return arkit.create("drafter", "core/prompt-lookup")
    draft = DraftModel(_near_copy(target, noise))
    return draft if name == "core/draft-model" else HierarchicalDrafter(draft)


PROMPTS = {
    "batch 1": [list(b"the cat sat on the mat. the cat")],
    "padded batch of 3": [list(b"abc abc abc ab"), list(b"x"), list(b"hello world, hello")],
}


@pytest.mark.parametrize("cache", ["core/dynamic", "core/static"])
@pytest.mark.parametrize("batch", sorted(PROMPTS))
@pytest.mark.parametrize("name", ["core/prompt-lookup", "core/draft-model", "core/hierarchical"])
def test_greedy_speculative_equals_plain_greedy(name: str, batch: str, cache: str) -> None:
    target = _target(cache)
    prompts = PROMPTS[batch]
    plain = target.generate(prompt_ids=prompts, max_new_tokens=40, output_logprobs=True)
    fast = target.replace(drafter=_drafter(name, target)).generate(prompt_ids=prompts, max_new_tokens=40,
                                                                  num_draft_tokens=4, output_logprobs=True,
                                                                  draft_schedule="constant")  # draft every pass
    assert fast.sequences == plain.sequences
    for a, b in zip(fast.logprobs, plain.logprobs):
        torch.testing.assert_close(torch.tensor(a), torch.tensor(b), atol=1e-4, rtol=0)
    assert fast.speculative.accepted > 0 or name == "core/prompt-lookup"


def test_a_draft_model_of_the_target_itself_has_every_draft_accepted() -> None:
    target = _target()
    # constant: the adaptive schedule would rightly never draft with a draft model as costly as the target
    out = target.replace(drafter=DraftModel(target)).generate(prompt_ids=PROMPTS["padded batch of 3"],
                                                              max_new_tokens=31, num_draft_tokens=5,
                                                              draft_schedule="constant")
    assert out.speculative.accepted == out.speculative.drafted
    assert out.speculative.mean_accepted_per_call > 5


class Checked:
    """Wraps a draft model; checks every proposal against a fresh draft model over the same context."""

    config: dict = {}

    def __init__(self, drafter: Any) -> None:
        self.drafter, self.vocab_size = drafter, drafter.vocab_size
        outer = drafter.drafter if isinstance(drafter, HierarchicalDrafter) else drafter
        self.fresh = DraftModel(backbone=outer.backbone, head=outer.head)
        self.calls = 0

    def start(self, pipe: arkit.Pipeline, batch_size: int) -> None:
        self.drafter.start(pipe, batch_size)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        draft = self.drafter.propose(tokens, k)
        self.fresh.start  # noqa: B018 - a fresh cache for every check:
        self.fresh._batch = None
        expected = self.fresh.propose(tokens, k)
        assert torch.equal(draft.tokens, expected.tokens), (tokens.tolist(), k)
        self.calls += 1
        return draft


@settings(max_examples=20)
@given(
    prompts=st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=12), min_size=1, max_size=4),
    k=st.integers(1, 6),
    noise=st.sampled_from([0.0, 0.3, 1.0, 3.0]),
    hierarchical=st.booleans(),
    cache=st.sampled_from(["core/dynamic", "core/static"]),
)
def test_random_batches_and_draft_lengths_never_corrupt_either_cache(
    prompts: list[list[int]], k: int, noise: float, hierarchical: bool, cache: str
) -> None:
    target = _target(cache)
    draft = DraftModel(_near_copy(target, noise), cache=cache)
    drafter = Checked(HierarchicalDrafter(draft) if hierarchical else draft)
    plain = target.generate(prompt_ids=prompts, max_new_tokens=24)
    fast = target.replace(drafter=drafter).generate(prompt_ids=prompts, max_new_tokens=24, num_draft_tokens=k)
    assert fast.sequences == plain.sequences
    assert drafter.calls > 0


def test_the_draft_cache_is_rebuilt_when_holes_fill_it() -> None:
    target = _target()
    draft = DraftModel(_near_copy(target, 1.0))
    draft._capacity = 60  # tiny: rebuilds every few passes (rows reach 52 tokens)
    resets, reset = [], draft._reset
    draft._reset = lambda *a: (resets.append(a), reset(*a))  # type: ignore[method-assign]
    drafter = Checked(draft)
    prompts = PROMPTS["padded batch of 3"]
    plain = target.generate(prompt_ids=prompts, max_new_tokens=30)
    fast = target.replace(drafter=drafter).generate(prompt_ids=prompts, max_new_tokens=30, num_draft_tokens=4)
    assert fast.sequences == plain.sequences
    assert len(resets) >= 2  # the first pass, then at least one rebuild


@pytest.mark.parametrize("name", ["core/draft-model", "core/hierarchical"])
def test_a_pipeline_with_a_draft_model_saves_and_loads(name: str, tmp_path: Any) -> None:
    target = _target()
    pipe = target.replace(drafter=_drafter(name, target))
    path = pipe.save_pretrained(tmp_path / "pipe")
    assert (path / "drafter" / "model.safetensors").is_file()
    loaded = arkit.Pipeline.from_pretrained(path)
    assert type(loaded.drafter) is type(pipe.drafter)
    assert loaded.drafter.config == pipe.drafter.config
    for key, value in pipe.drafter.state_dict().items():
        assert torch.equal(loaded.drafter.state_dict()[key], value), key
    prompts = PROMPTS["padded batch of 3"]
    a = pipe.generate(prompt_ids=prompts, max_new_tokens=20, num_draft_tokens=3)
    b = loaded.generate(prompt_ids=prompts, max_new_tokens=20, num_draft_tokens=3)
    assert a.sequences == b.sequences and a.speculative.accepted == b.speculative.accepted


def test_bad_draft_models_get_clear_errors() -> None:
    target = _target()
    small = arkit.Pipeline(
        tokenizer=IdTokenizer(40),
        backbone=arkit.create("backbone", "core/transformer", vocab_size=40, d_model=16, n_layers=1, n_heads=2),
        head=arkit.create("head", "core/categorical", d_model=16, vocab_size=40),
    )
    with pytest.raises(arkit.ConfigError, match="vocab"):
        target.replace(drafter=DraftModel(small))
    other_tokenizer = target.replace(tokenizer=arkit.create("tokenizer", "core/byte", mode="bytes"))
    with pytest.raises(arkit.ConfigError, match="tokenizer"):
        target.replace(drafter=DraftModel(other_tokenizer)).generate(prompt_ids=[[1, 2]], max_new_tokens=3)
    for bad in ({"temperature": -1.0}, {"cache": "core/sliding"}, {"seed": "x"}):
        with pytest.raises(arkit.ConfigError):
            DraftModel(target, **bad)
    with pytest.raises(arkit.ConfigError):
        DraftModel()
    with pytest.raises(arkit.ConfigError, match="draft-model"):
        HierarchicalDrafter(arkit.create("drafter", "core/prompt-lookup"))


# -- sampling: exact acceptance with a sampled draft model keeps the target's distribution ------------
V, NEW, PROMPT = 4, 3, [1, 2, 1]


@pytest.mark.parametrize("hierarchical", [False, True], ids=["draft-model", "hierarchical"])
def test_sampled_draft_model_under_exact_acceptance_has_the_target_distribution(hierarchical: bool) -> None:
    target = toy_target(V, sampler=arkit.create("sampler", "core/chain", steps=[
        {"name": "core/top-k", "config": {"k": 3}}, {"name": "core/temperature", "config": {"temperature": 0.8}}]))
    draft = DraftModel(toy_target(V, seed=7), temperature=1.3, seed=1)  # a different model: a poor, sampled drafter
    drafter = HierarchicalDrafter(draft, inner={"name": "core/prompt-lookup", "config": {"max_ngram": 1}}) \
        if hierarchical else draft
    exact = sequence_distribution(target, PROMPT, NEW)
    n = 20_000 if not hierarchical else 6_000
    out = target.replace(drafter=drafter).generate(prompt_ids=[PROMPT] * n, max_new_tokens=NEW, eos_token_ids=(),
                                                   seed=5, num_draft_tokens=2,
                                                   draft_schedule="constant")
    assert out.speculative.accepted > 0 and out.speculative.accepted < out.speculative.drafted
    assert tv_distance(sequence_counts(out.sequences), exact, n) < tv_tolerance(exact, n)


def test_sampled_drafts_carry_the_draft_models_distribution() -> None:
    draft = DraftModel(toy_target(V, seed=7), temperature=0.5, seed=0)
    tokens = torch.tensor([[-1, 1, 2], [3, 0, 1]])
    proposal = draft.propose(tokens, 3)
    assert proposal.probs.shape == (2, 3, V)
    torch.testing.assert_close(proposal.probs.sum(-1), torch.ones(2, 3))
    greedy = DraftModel(toy_target(V, seed=7)).propose(tokens, 3)
    assert greedy.probs is None


def test_a_sampling_draft_model_follows_the_generation_seed() -> None:
    """Without a seed of its own, the draft model draws from a stream seeded by generate(seed=...)."""
    target = tiny_pipeline("core/multinomial")
    torch.manual_seed(1)
    draft = arkit.create("backbone", "core/transformer", vocab_size=259, d_model=32, n_layers=1, n_heads=2,
                         max_seq_len=128)
    head = arkit.create("head", "core/categorical", d_model=32, vocab_size=259)
    small = arkit.Pipeline(tokenizer=target.tokenizer, backbone=draft, head=head)
    fast = target.replace(drafter=DraftModel(small, temperature=1.0))
    a = fast.generate(["abc", "hello"], max_new_tokens=12, seed=7, eos_token_ids=())
    torch.manual_seed(12345)  # the global stream must not matter
    b = fast.generate(["abc", "hello"], max_new_tokens=12, seed=7, eos_token_ids=())
    assert a.sequences == b.sequences
