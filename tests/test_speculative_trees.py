"""Tree drafts: several candidates per prefix, scored in one pass under a tree attention mask.

The same invariants as for chains: greedy output (and its log-probabilities) equals plain
greedy whatever tree is drafted, exact acceptance keeps the target's distribution over
whole sequences, constraints hold, and the cache survives the discarded branches.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.acceptance._common import tree_ancestors, tree_depths
from arkit.constraints.state_machine import StateMachineConstraint
from arkit.drafters.medusa import MedusaHeads

from .helpers import sequence_counts, sequence_distribution, tiny_pipeline, toy_target, tv_distance, tv_tolerance


class TreeOracle:
    """Random trees whose nodes carry the true next token (given their path) or a random one.

    With ``reference`` (each row's plain greedy output) some branches follow it, so acceptance
    patterns vary: no node kept, a path through several branches, the last node kept. With
    ``full`` the tree is instead the complete ``vocab``-ary tree in breadth-first order, each
    node's children in a random order: whatever the target draws at a covered node, a child
    carries it, so most tokens come through kept nodes.
    """

    config: dict = {}
    tree_drafts = True

    def __init__(self, vocab: int, seed: int, reference: list[list[int]] | None = None, truth: float = 0.6,
                 full: bool = False) -> None:
        self.vocab, self.reference, self.truth, self.full = vocab, reference, truth, full
        self.generator = torch.Generator().manual_seed(seed)

    def _draw(self, n: int) -> int:
        return int(torch.randint(0, n, (1,), generator=self.generator))

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        B = tokens.shape[0]
        drafted = torch.zeros(B, k, dtype=torch.long)
        parents = torch.full((B, k), -1, dtype=torch.long)
        if self.full:
            for i in range(k):
                parents[:, i] = i // self.vocab - 1
            for start in range(0, k, self.vocab):
                for row in range(B):
                    order = torch.randperm(self.vocab, generator=self.generator)[: k - start]
                    drafted[row, start : start + len(order)] = order
            return arkit.Draft(tokens=drafted, parents=parents)
        for row, context in enumerate(tokens.tolist()):
            n = sum(t >= 0 for t in context)  # tokens so far, the pending one included
            paths: list[list[int]] = []
            for i in range(k):
                parent = self._draw(i + 1) - 1
                path = ([] if parent < 0 else paths[parent]) + [0]
                at = n + len(path) - 1
                true = self.reference[row][at] if self.reference and at < len(self.reference[row]) else None
                coin = float(torch.rand(1, generator=self.generator))
                token = true if true is not None and coin < self.truth else self._draw(self.vocab)
                path[-1] = token
                paths.append(path)
                drafted[row, i], parents[row, i] = token, parent
        lengths = torch.randint(0, k + 1, (B,), generator=self.generator)
        return arkit.Draft(tokens=drafted, parents=parents, lengths=lengths)


def test_depths_and_ancestors_of_a_tree() -> None:
    #      root
    #     /    \
    #    n0     n1
    #   /  \
    #  n2   n3
    #        \
    #         n4
    parents = torch.tensor([[-1, -1, 0, 0, 3]])
    assert tree_depths(parents).tolist() == [[0, 1, 1, 2, 2, 3]]
    seen = tree_ancestors(parents)[0].long().tolist()
    assert seen == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 0, 1, 0, 0, 0],
        [1, 1, 0, 1, 0, 0],
        [1, 1, 0, 0, 1, 0],
        [1, 1, 0, 0, 1, 1],
    ]
    chain = torch.tensor([[-1, 0, 1]])
    assert tree_ancestors(chain)[0].equal(torch.ones(4, 4, dtype=torch.bool).tril())


@settings(max_examples=25, deadline=None)
@given(
    prompts=st.lists(st.lists(st.integers(0, 258), min_size=1, max_size=8), min_size=1, max_size=3),
    k=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    cache=st.sampled_from(["core/dynamic", "core/static"]),
    rule=st.sampled_from(["core/exact", "core/greedy-match", "core/typical-acceptance"]),
)
def test_greedy_with_tree_drafts_equals_greedy(prompts: list[list[int]], k: int, seed: int, cache: str,
                                               rule: str) -> None:
    """Discarded branches become holes in the cache; logprobs equal to 1e-4 show the keys and values survived.

    Under a greedy sampler the target's distribution is one-hot, so typical acceptance keeps only the argmax too.
    """
    pipe = tiny_pipeline().replace(cache=arkit.create("cache", cache))
    options = dict(max_new_tokens=12, eos_token_ids=(), num_draft_tokens=k, output_logprobs=True)
    plain = pipe.generate(prompt_ids=prompts, **options)
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    fast = pipe.replace(drafter=TreeOracle(259, seed, reference), acceptance=arkit.create("acceptance", rule)).generate(
        prompt_ids=prompts, **options)
    assert fast.sequences == plain.sequences
    for got, want in zip(fast.logprobs, plain.logprobs):
        assert got == pytest.approx(want, abs=1e-4)
    stats = fast.speculative
    assert stats.generated == sum(len(s) for s in plain.sequences) and 0 <= stats.accepted <= stats.drafted


def test_the_oracle_trees_are_accepted_deeply() -> None:
    """A guard on the test above: its trees do get paths of several nodes kept."""
    pipe = tiny_pipeline()
    prompts = [[72, 105], [1, 2, 3]]
    plain = pipe.generate(prompt_ids=prompts, max_new_tokens=24, eos_token_ids=())
    reference = [list(p) + list(s) for p, s in zip(prompts, plain.sequences)]
    fast = pipe.replace(drafter=TreeOracle(259, 0, reference, truth=0.8)).generate(
        prompt_ids=prompts, max_new_tokens=24, eos_token_ids=(), num_draft_tokens=6, draft_schedule="constant")
    assert fast.sequences == plain.sequences
    assert fast.speculative.mean_accepted_per_call > 2.0


V, NEW, PROMPT = 4, 4, [1, 2]


def _sample(pipe: arkit.Pipeline, n: int, seed: int, constraint: Any = None) -> dict[tuple[int, ...], int]:
    out = pipe.generate(prompt_ids=[PROMPT] * n, max_new_tokens=NEW, eos_token_ids=(), seed=seed,
                        num_draft_tokens=12, draft_schedule="constant", constraint=constraint)
    # a guard on the test: most tokens come through kept tree nodes, so a biased rule would show
    assert out.speculative is not None and out.speculative.accepted > 0.3 * n * NEW
    return sequence_counts(out.sequences)


def test_exact_acceptance_of_tree_drafts_keeps_the_target_distribution() -> None:
    target = toy_target(V)
    exact = sequence_distribution(target, PROMPT, NEW)
    n = 30_000
    counts = _sample(target.replace(drafter=TreeOracle(V, 1, full=True)), n, seed=8)
    assert tv_distance(counts, exact, n) < tv_tolerance(exact, n)


def test_exact_acceptance_of_tree_drafts_under_a_constraint() -> None:
    fsm = StateMachineConstraint({0: {0: 1, 1: 1, 3: 1}, 1: {1: 0, 3: 0}}, start=0, accept={0, 1})
    target = toy_target(V)
    exact = sequence_distribution(target, PROMPT, NEW, constraint=fsm)
    n = 30_000
    counts = _sample(target.replace(drafter=TreeOracle(V, 2, full=True)), n, seed=9, constraint=fsm)
    assert all(exact[s] > 0 for s in counts), "a sequence the constraint forbids was generated"
    assert tv_distance(counts, exact, n) < tv_tolerance(exact, n)


def test_medusa_trees_are_lossless_and_keep_at_least_as_much_as_chains() -> None:
    pipe = tiny_pipeline()
    prompts = ["hello world", "ab"]
    plain = pipe.generate(prompts, max_new_tokens=20, eos_token_ids=())
    chain = MedusaHeads.for_pipeline(pipe, num_heads=3)
    tree = MedusaHeads.for_pipeline(pipe, num_heads=3, tree_width=3)
    tree.load_state_dict(chain.state_dict())
    assert tree.tree_drafts and not chain.tree_drafts
    options = dict(max_new_tokens=20, eos_token_ids=(), num_draft_tokens=8, draft_schedule="constant")
    a = pipe.replace(drafter=chain).generate(prompts, **options)
    b = pipe.replace(drafter=tree).generate(prompts, **options)
    assert a.sequences == b.sequences == plain.sequences
    # the tree holds the chain (every head's top-1 path is the most probable path), so it keeps at least as much
    assert b.speculative.accepted >= a.speculative.accepted


def test_tree_drafts_best_first_order_and_size() -> None:
    pipe = tiny_pipeline()
    heads = MedusaHeads.for_pipeline(pipe, num_heads=2, tree_width=2)
    heads._hidden = torch.randn(3, 64, generator=torch.Generator().manual_seed(0))
    draft = heads.propose(torch.zeros(3, 4, dtype=torch.long), 10)
    assert draft.lengths.tolist() == [6, 6, 6]  # 2 + 2 * 2 nodes: two heads, width 2
    assert bool((draft.parents < torch.arange(10)).all())
    top1 = heads.heads[0](heads._hidden).argmax(-1)
    assert draft.tokens[:, 0].tolist() == top1.tolist() and draft.parents[:, 0].tolist() == [-1, -1, -1]


class _Bad(TreeOracle):
    def __init__(self, parents: Any, declare: bool = True) -> None:
        super().__init__(259, 0)
        self.parents, self.tree_drafts = parents, declare

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        B = tokens.shape[0]
        return arkit.Draft(tokens=torch.ones(B, k, dtype=torch.long), parents=self.parents(B, k))


def test_bad_tree_drafts_get_clear_errors() -> None:
    pipe = tiny_pipeline()
    run = dict(max_new_tokens=4, num_draft_tokens=3, draft_schedule="constant")
    with pytest.raises(arkit.GenerationError, match="earlier node"):
        pipe.replace(drafter=_Bad(lambda B, k: torch.zeros(B, k, dtype=torch.long))).generate(["hi"], **run)
    with pytest.raises(arkit.GenerationError, match="LongTensor of shape"):
        pipe.replace(drafter=_Bad(lambda B, k: torch.zeros(B, k + 1, dtype=torch.long))).generate(["hi"], **run)
    chain = lambda B, k: torch.arange(-1, k - 1).expand(B, k).clone()  # noqa: E731
    with pytest.raises(arkit.GenerationError, match="without declaring tree_drafts"):
        pipe.replace(drafter=_Bad(chain, declare=False)).generate(["hi"], **run)
    lantern = arkit.create("acceptance", "core/lantern", neighbours=[[i] for i in range(259)], delta=0.1)
    with pytest.raises(arkit.ConfigError, match="keeps only chains"):
        pipe.replace(drafter=_Bad(chain), acceptance=lantern).generate(["hi"], **run)
    probs = arkit.Draft(tokens=torch.ones(1, 2, dtype=torch.long), probs=torch.full((1, 2, 259), 1 / 259),
                        parents=torch.tensor([[-1, 0]]))
    with pytest.raises(arkit.GenerationError, match="deterministic"):
        arkit.create("acceptance", "core/exact").accept_tree(probs, torch.full((1, 3, 259), 1 / 259), None)


def test_typical_acceptance_follows_the_likeliest_typical_child() -> None:
    rule = arkit.create("acceptance", "core/typical-acceptance", posterior_threshold=0.3, posterior_alpha=0.3)
    #   root -> n0 (token 1), n1 (token 2);  n1 -> n2 (token 0)
    draft = arkit.Draft(tokens=torch.tensor([[1, 2, 0]]), parents=torch.tensor([[-1, -1, 1]]))
    q = torch.tensor([[[0.1, 0.35, 0.55, 0.0],   # root: both children typical, token 2 likelier
                       [1.0, 0.0, 0.0, 0.0],     # after n0 (unused)
                       [0.9, 0.05, 0.05, 0.0],   # after n1: token 0 typical
                       [0.0, 0.0, 0.0, 1.0]]])   # after n2: the target's token is 3
    paths, after = rule.accept_tree(draft, q, torch.Generator().manual_seed(0))
    assert paths == [[1, 2]] and after.tolist() == [3]
