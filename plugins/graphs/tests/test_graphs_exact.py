"""The atlas exact-distribution test: plain and speculative sampling are not rejected, a biased sampler is.

The shipped ``atlas-5`` model (115k parameters, trained on the 21 connected 5-node graphs)
is sampled under ``graphs/bfs`` with exactly 5 nodes; the probabilities of the 21 classes
are computed exactly by enumerating the 315 allowed token sequences. Seeds are fixed, so
each p-value is deterministic; a correct sampler falls below 0.01 with probability 0.01
over seeds, a temperature-0.7 sampler gives a chi-square of several hundred at this size.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import arkit
from arkit_graphs import BfsConstraint, atlas_graphs
from arkit_graphs.checkpoints import pretrained
from arkit_graphs.exact import chi_square_test, enumerate_sequences, exact_graph_probabilities, total_variation

SAMPLES = 1000


@functools.lru_cache(maxsize=1)
def _setup() -> tuple[arkit.Pipeline, list, np.ndarray]:
    pipe = pretrained("atlas-5")
    classes = atlas_graphs(5)
    return pipe, classes, exact_graph_probabilities(pipe, classes, _constraint(pipe))


def _constraint(pipe: arkit.Pipeline) -> BfsConstraint:
    return BfsConstraint.for_tokenizer(pipe.tokenizer, min_nodes=5, max_nodes=5)


def test_the_exact_probabilities_cover_every_sequence_and_sit_near_the_uniform_target() -> None:
    pipe, classes, probs = _setup()
    sequences = enumerate_sequences(_constraint(pipe), pipe.tokenizer.special_tokens["eos"])
    # node i >= 1 picks a non-empty set of earlier neighbours within bandwidth 4: 1 * 3 * 7 * 15
    assert len(sequences) == 315
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert total_variation(probs, np.full(len(classes), 1 / len(classes))) < 0.15  # the model learned the target


@pytest.mark.parametrize("mode", ["plain", "speculative"])
def test_lossless_sampling_is_not_rejected(mode: str) -> None:
    pipe, classes, probs = _setup()
    options = {}
    if mode == "speculative":
        pipe = pipe.replace(drafter=arkit.create("drafter", "core/prompt-lookup"))
        options = {"num_draft_tokens": 4, "draft_schedule": "constant"}  # every pass drafts
    result = chi_square_test(pipe, classes, probs, _constraint(pipe), samples=SAMPLES, seed=11, **options)
    assert result.p_value > 0.01, result.as_dict()
    if mode == "speculative":  # drafts were really accepted: more than one token per target pass
        assert result.tokens_per_row_call > 1.0 + 1e-9


def test_a_biased_sampler_is_rejected_by_the_same_test() -> None:
    pipe, classes, probs = _setup()
    biased = pipe.replace(sampler=arkit.create("sampler", "core/multinomial", temperature=0.7))
    result = chi_square_test(biased, classes, probs, _constraint(pipe), samples=SAMPLES, seed=11)
    assert result.p_value < 0.01, result.as_dict()


def test_probabilities_that_miss_classes_are_refused() -> None:
    pipe, classes, probs = _setup()
    with pytest.raises(arkit.ConfigError, match="sum to"):
        chi_square_test(pipe, classes[:-1], probs[:-1] / 2, _constraint(pipe), samples=10)
