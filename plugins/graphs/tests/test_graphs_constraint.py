"""Constraints: the contract suite, and every constrained sample valid under a randomly initialised model."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
import torch

import arkit
from arkit.testing import ConstraintContract
from arkit_graphs import BfsAdjacencyTokenizer, BfsConstraint, Graph
from arkit_graphs.sampling import sample_graphs

BANDWIDTH, MAX_NODES = 4, 9


class TestBfsConstraintContract(ConstraintContract):
    component = "graphs/bfs"
    config = {"bandwidth": BANDWIDTH, "vocab_size": 4 + BANDWIDTH, "tree": True, "max_nodes": MAX_NODES}
    vocab_size = 4 + BANDWIDTH


class TestLabelledDegreeConstraintContract(ConstraintContract):
    component = "graphs/bfs"
    config = {"bandwidth": 3, "vocab_size": 12, "node_labels": 3, "edge_labels": 2, "max_degree": 3,
              "min_nodes": 4, "max_nodes": 8}
    vocab_size = 12


def _random_pipeline(seed: int, labelled: bool = False) -> arkit.Pipeline:
    """A randomly initialised model (weights N(0, 0.5) so the free model breaks every rule often)."""
    tok = BfsAdjacencyTokenizer(bandwidth=BANDWIDTH, max_nodes=MAX_NODES,
                                node_labels=["C", "N"] if labelled else None,
                                edge_labels=["double", "single"] if labelled else None)
    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=32, n_layers=1,
                            n_heads=2, max_seq_len=128, init_std=0.5)
    head = arkit.create("head", "core/categorical", d_model=32, vocab_size=tok.vocab_size)
    return arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head,
                          sampler=arkit.create("sampler", "core/multinomial"))


def _valid(graph: Graph, rules: dict) -> bool:
    lo, hi = rules.get("min_nodes", 1), rules.get("max_nodes", MAX_NODES)
    if not lo <= graph.n <= hi:
        return False
    if rules.get("tree") and not graph.is_tree():
        return False
    if rules.get("connected", True) and not graph.is_connected():
        return False
    d = rules.get("max_degree")
    return d is None or max((len(a) for a in graph.neighbours), default=0) <= d


RULES = st.fixed_dictionaries({}, optional={
    "tree": st.booleans(), "max_degree": st.integers(2, 4), "min_nodes": st.integers(1, 5),
    "max_nodes": st.integers(5, MAX_NODES), "connected": st.just(True)})


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=RULES, seed=st.integers(0, 2**16), labelled=st.booleans())
def test_every_constrained_sample_is_valid_whatever_the_model(rules: dict, seed: int, labelled: bool) -> None:
    pipe = _random_pipeline(seed, labelled)
    constraint = BfsConstraint.for_tokenizer(pipe.tokenizer, **rules)
    out = sample_graphs(pipe, 24, constraint=constraint, batch_size=24, seed=seed, max_new_tokens=100,
                        measure=False)
    assert all(out.well_formed), out.finish_reasons
    bad = [g for g in out.graphs if not _valid(g, rules)]
    assert not bad, f"{len(bad)} invalid samples under {rules}, e.g. {bad[0]!r}"


def test_the_free_random_model_breaks_the_rules_that_the_constraint_enforces() -> None:
    """The property test above would pass for nothing if the model already obeyed every rule."""
    pipe = _random_pipeline(0)
    out = sample_graphs(pipe, 48, batch_size=48, seed=0, max_new_tokens=100, measure=False)
    assert sum(not (ok and g.is_tree()) for ok, g in zip(out.well_formed, out.graphs)) > 10


def test_intervention_is_measured_and_zero_without_forbidden_mass() -> None:
    pipe = _random_pipeline(1)
    out = sample_graphs(pipe, 16, constraint=BfsConstraint.for_tokenizer(pipe.tokenizer, tree=True),
                        batch_size=16, seed=1, max_new_tokens=100)
    i = out.intervention
    assert i is not None and i.steps == sum(len(t) for t in out.tokens)
    assert 0.0 < i.mass_removed < 1.0 and 0.0 < i.argmax_removed <= 1.0


def test_offsets_are_never_at_or_after_the_current_node_nor_outside_the_bandwidth() -> None:
    c = BfsConstraint(bandwidth=3, vocab_size=7, connected=False)
    state = c.start()
    for node in range(6):
        allowed = c.allowed(state).nonzero().flatten().tolist()
        offsets = [t - 3 for t in allowed if t >= 4]
        assert offsets == list(range(1, min(node, 3) + 1))
        state = c.advance(state, 3)  # SEP: a node without edges (allowed when not connected)


def test_bad_constraint_configs_are_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="bandwidth"):
        BfsConstraint(bandwidth=0, vocab_size=8)
    with pytest.raises(arkit.ConfigError, match="min_nodes"):
        BfsConstraint(bandwidth=2, vocab_size=8, min_nodes=5, max_nodes=3)
    with pytest.raises(arkit.ConfigError, match="max_degree 1"):
        BfsConstraint(bandwidth=2, vocab_size=8, max_degree=1, min_nodes=3)
