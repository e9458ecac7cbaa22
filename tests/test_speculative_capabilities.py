"""Speculative capabilities are protocols: a plugin's component gets exactly what a built-in gets.

Every drafter, rule and cache here is defined only in this file and inherits from
nothing in arkit. Each delegates its work to a built-in, so "the same behaviour as
the built-in" can be checked token for token: the loop must treat them alike,
asking what they can do with ``isinstance`` on the protocols of ``arkit.protocols``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.drafters.draft_model import DraftModel
from arkit.drafters.hierarchical import HierarchicalDrafter
from arkit.drafters.jacobi import JacobiDrafter
from arkit.drafters.medusa import MedusaHeads
from arkit.drafters.token_recycling import TokenRecycling
from arkit.protocols import (CostedDrafter, EvictingCache, ObservingDrafter, SamplingDrafter, StatefulDrafter,
                             TreeAcceptanceRule, TreeDrafter)

from .helpers import tiny_pipeline


class PluginSJD:
    """Speculative Jacobi decoding as a plugin would write it: starts, samples from the generation's stream, observes."""

    config: Mapping[str, Any] = {}
    uses_generator = True

    def __init__(self) -> None:
        self.inner = JacobiDrafter(probabilistic=True)
        self.started: list[int] = []
        self.observed = 0

    def start(self, pipe: Any, batch_size: int, *, generator: torch.Generator | None = None) -> None:
        self.started.append(batch_size)
        self.inner.start(pipe, batch_size, generator=generator)

    def observe(self, verification: arkit.Verification) -> None:
        self.observed += 1
        self.inner.observe(verification)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        return self.inner.propose(tokens, k)


class PluginTreeRecycling:
    """Token recycling's trees as a plugin would write it: a tree drafter that learns from the target's logits."""

    config: Mapping[str, Any] = {}
    tree_drafts = True

    def __init__(self) -> None:
        self.inner = TokenRecycling(vocab_size=259, tree_width=2)

    def start(self, pipe: Any, batch_size: int) -> None:
        self.inner.start(pipe, batch_size)

    def observe(self, verification: arkit.Verification) -> None:
        self.inner.observe(verification)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        return self.inner.propose(tokens, k)


class PluginGreedyTrees:
    """A tree acceptance rule of a plugin: greedy match, delegated."""

    config: Mapping[str, Any] = {}
    lossless = True

    def __init__(self) -> None:
        self.rule = arkit.create("acceptance", "core/greedy-match")
        self.trees = 0

    def accept(self, draft: arkit.Draft, target_probs: torch.Tensor, generator: Any) -> Any:
        return self.rule.accept(draft, target_probs, generator)

    def accept_tree(self, draft: arkit.Draft, target_probs: torch.Tensor, generator: Any) -> Any:
        self.trees += 1
        return self.rule.accept_tree(draft, target_probs, generator)


class ChainsOnly:
    """A rule without accept_tree."""

    config: Mapping[str, Any] = {}
    lossless = True

    def accept(self, draft: arkit.Draft, target_probs: torch.Tensor, generator: Any) -> Any:
        return arkit.create("acceptance", "core/greedy-match").accept(draft, target_probs, generator)


class WindowCache:
    """A plugin cache that evicts from the front (it says so with ``offset``)."""

    config: Mapping[str, Any] = {}
    offset = 0

    def __init__(self) -> None:
        self.inner = arkit.create("cache", "core/dynamic")

    @property
    def seq_len(self) -> int:
        return self.inner.seq_len

    def allocate(self, spec: Any, **kwargs: Any) -> None:
        self.inner.allocate(spec, **kwargs)

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> Any:
        return self.inner.update(layer, key, value)

    def crop(self, n: int) -> None:
        self.inner.crop(n)

    def reorder(self, indices: torch.Tensor) -> None:
        self.inner.reorder(indices)

    def memory_bytes(self) -> int:
        return self.inner.memory_bytes()


def _caps(obj: Any) -> set[str]:
    kinds = (StatefulDrafter, SamplingDrafter, ObservingDrafter, TreeDrafter, TreeAcceptanceRule, EvictingCache,
             CostedDrafter)
    return {p.__name__ for p in kinds if isinstance(obj, p)}


def test_capabilities_are_read_from_the_members_alone() -> None:
    pipe = tiny_pipeline()
    assert _caps(PluginSJD()) == {"StatefulDrafter", "SamplingDrafter", "ObservingDrafter"}
    assert _caps(PluginTreeRecycling()) == {"StatefulDrafter", "ObservingDrafter", "TreeDrafter"}
    assert _caps(PluginGreedyTrees()) == {"TreeAcceptanceRule"} and _caps(ChainsOnly()) == set()
    assert _caps(WindowCache()) == {"EvictingCache"}
    # the built-ins have the same capabilities through the same members
    assert _caps(arkit.create("drafter", "core/jacobi")) == _caps(PluginSJD())
    assert _caps(MedusaHeads.for_pipeline(pipe, tree_width=2)) == _caps(PluginTreeRecycling())
    assert _caps(TokenRecycling(tree_width=2)) == _caps(PluginTreeRecycling())
    assert _caps(arkit.create("drafter", "core/prompt-lookup")) == set()
    for rule in ("core/exact", "core/greedy-match", "core/typical-acceptance"):
        assert _caps(arkit.create("acceptance", rule)) == {"TreeAcceptanceRule"}
    assert _caps(arkit.create("cache", "core/sliding")) == {"EvictingCache"}
    assert _caps(arkit.create("cache", "core/static")) == _caps(arkit.create("cache", "core/dynamic")) == set()
    assert _caps(PluginCostly(1.0)) == {"CostedDrafter"} and "CostedDrafter" in _caps(DraftModel(tiny_pipeline()))


class PluginCostly:
    """A lookup drafter that says each draft token costs ``per_token`` plain target steps."""

    config: Mapping[str, Any] = {}

    def __init__(self, per_token: Any) -> None:
        self.per_token = per_token
        self.inner = arkit.create("drafter", "core/prompt-lookup")
        self.asked: list[int] = []

    def draft_cost(self, target: Any, width: int) -> Any:
        self.asked.append(width)
        return self.per_token if isinstance(self.per_token, str) else self.per_token * width

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        return self.inner.propose(tokens, k)


def test_a_drafter_that_declares_its_cost_drafts_only_where_it_pays() -> None:
    """The adaptive schedule adds the declared cost: a free drafter drafts on a repeating prompt, one whose
    drafts cost as much as five target steps per token never does; the tokens are the same either way."""
    pipe = tiny_pipeline()
    prompt = [list(b"abcdefgh" * 6)]
    options = dict(prompt_ids=prompt, max_new_tokens=24, eos_token_ids=(), num_draft_tokens=4)
    plain = pipe.generate(**options)
    cheap, dear = PluginCostly(0.0), PluginCostly(5.0)
    a = pipe.replace(drafter=cheap).generate(**options)
    b = pipe.replace(drafter=dear).generate(**options)
    assert a.sequences == b.sequences == plain.sequences
    assert cheap.asked == dear.asked == [1, 2, 3, 4]  # asked once per generation, for each width
    assert a.speculative.drafted > 0 and b.speculative.drafted == 0
    with pytest.raises(arkit.GenerationError, match="draft_cost.*finite number"):
        pipe.replace(drafter=PluginCostly(float("nan"))).generate(**options)
    with pytest.raises(arkit.GenerationError, match="draft_cost"):
        pipe.replace(drafter=PluginCostly("cheap")).generate(**options)
    import numpy as np  # any real number will do, numpy's included

    assert pipe.replace(drafter=PluginCostly(np.float32(5.0))).generate(**options).speculative.drafted == 0
    target = tiny_pipeline()  # a draft model's cost grows with the width and with its share of the weights
    small = DraftModel(tiny_pipeline())
    assert small.draft_cost(target.backbone, 4) == pytest.approx(4 * small.draft_cost(target.backbone, 1))
    assert 0.5 < small.draft_cost(target.backbone, 1) < 2  # about the target's own size


@settings(max_examples=8, deadline=None)
@given(prompts=st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=6), min_size=1, max_size=3),
       seed=st.integers(0, 10_000))
def test_a_plugin_sampling_drafter_samples_exactly_like_the_builtin(prompts: list[list[int]], seed: int) -> None:
    """Same seed, same tokens: the plugin got the generation's generator, its probs reached the rule, and it
    observed every pass, as core/jacobi(probabilistic=True) does."""
    pipe = tiny_pipeline("core/multinomial", temperature=0.7)
    options = dict(prompt_ids=prompts, max_new_tokens=10, eos_token_ids=(), seed=seed, num_draft_tokens=3,
                   draft_schedule="constant", output_logprobs=True)
    builtin = pipe.replace(drafter=JacobiDrafter(probabilistic=True)).generate(**options)
    plugin = PluginSJD()
    out = pipe.replace(drafter=plugin).generate(**options)
    assert out.sequences == builtin.sequences and out.logprobs == builtin.logprobs
    assert out.speculative.accepted == builtin.speculative.accepted
    assert plugin.started == [len(prompts)]
    assert plugin.observed == out.speculative.target_calls + 1  # the prefill, then every verification pass


def test_a_plugin_tree_drafter_and_rule_decode_like_the_builtins() -> None:
    pipe = tiny_pipeline()
    prompts = [list(b"speculative"), list(b"tree")]
    options = dict(prompt_ids=prompts, max_new_tokens=40, eos_token_ids=(), num_draft_tokens=6,
                   draft_schedule="constant", output_logprobs=True)
    plain = pipe.generate(**options)
    builtin = TokenRecycling(vocab_size=259, tree_width=2)
    a = pipe.replace(drafter=builtin, acceptance=arkit.create("acceptance", "core/greedy-match")).generate(**options)
    rule = PluginGreedyTrees()
    b = pipe.replace(drafter=PluginTreeRecycling(), acceptance=rule).generate(**options)
    assert a.sequences == b.sequences == plain.sequences
    assert a.logprobs == b.logprobs
    assert (a.speculative.drafted, a.speculative.accepted, a.speculative.target_calls) == (
        b.speculative.drafted, b.speculative.accepted, b.speculative.target_calls)
    assert b.speculative.accepted > 0  # trees were drafted and partly kept
    assert 0 < rule.trees <= b.speculative.target_calls  # tree passes went through the plugin's accept_tree


def test_missing_capabilities_are_refused_with_the_same_errors() -> None:
    pipe = tiny_pipeline()
    trees = PluginTreeRecycling()
    with pytest.raises(arkit.ConfigError, match="keeps only chains"):
        pipe.replace(drafter=trees, acceptance=ChainsOnly()).generate(["hi"], max_new_tokens=3)
    with pytest.raises(arkit.ConfigError, match="evicts"):
        pipe.replace(drafter=PluginSJD(), cache=WindowCache()).generate(["hi"], max_new_tokens=3)


def test_a_hierarchical_drafter_starts_a_plugin_inner_drafter() -> None:
    target = tiny_pipeline()

    class Inner:
        config: Mapping[str, Any] = {}

        def __init__(self) -> None:
            self.lookup, self.started = arkit.create("drafter", "core/prompt-lookup"), 0

        def start(self, pipe: Any, batch_size: int) -> None:
            self.started += 1

        def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
            return self.lookup.propose(tokens, k)

    inner = Inner()
    drafter = HierarchicalDrafter(DraftModel(target), inner=inner)
    alone = DraftModel(target)
    tokens = torch.tensor([list(b"abcabcabc")])
    for d in (drafter, alone):
        d.start(target, 1, generator=torch.Generator().manual_seed(0))
    assert inner.started == 1  # a plugin inner drafter is started like a built-in one
    assert torch.equal(drafter.propose(tokens, 4).tokens, alone.propose(tokens, 4).tokens)
    with pytest.raises(arkit.ConfigError, match="not an arkit.protocols.Drafter"):
        HierarchicalDrafter(DraftModel(target), inner=object())
