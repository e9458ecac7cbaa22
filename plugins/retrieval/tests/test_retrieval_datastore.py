"""The datastore drafter: lossless under greedy verification, fewer target calls when the output quotes the corpus."""

from __future__ import annotations

import pytest
import torch

import arkit
from arkit.testing import DrafterContract
from arkit_retrieval import DatastoreDrafter


def _pipe(seed: int = 0) -> arkit.Pipeline:
    torch.manual_seed(seed)
    tok = arkit.create("tokenizer", "core/byte")
    backbone = arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=32, n_layers=1,
                            n_heads=2, max_seq_len=128)
    head = arkit.create("head", "core/categorical", d_model=32, vocab_size=tok.vocab_size, init_std=0.5)
    return arkit.Pipeline(tokenizer=tok, backbone=backbone, head=head)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_greedy_output_as_plain_decoding_and_fewer_calls_when_quoting(seed: int) -> None:
    pipe = _pipe(seed)
    prompts = ["def f(x):", "Return the"]
    plain = pipe.generate(prompts, max_new_tokens=40, eos_token_ids=())
    # A datastore holding what the model will say (its own greedy text) plus unrelated text.
    corpus = [list(p) + list(s) for p, s in zip(plain_prompts(pipe, prompts), plain.sequences)] + [[5, 6, 7, 8] * 10]
    fast = pipe.replace(drafter=DatastoreDrafter(documents=corpus, min_ngram=2))
    spec = fast.generate(prompts, max_new_tokens=40, eos_token_ids=(), num_draft_tokens=8)
    assert spec.sequences == plain.sequences
    assert spec.speculative.target_calls < plain.num_steps - 1
    # A datastore of unrelated text: drafts are rejected, output unchanged.
    other = pipe.replace(drafter=DatastoreDrafter(documents=[[9, 9, 9, 9] * 5, [1, 2, 3]], min_ngram=1))
    assert other.generate(prompts, max_new_tokens=40, eos_token_ids=()).sequences == plain.sequences


def plain_prompts(pipe: arkit.Pipeline, prompts: list[str]) -> list[list[int]]:
    return [pipe.encode(p) for p in prompts]


def test_drafts_follow_the_longest_matching_suffix() -> None:
    d = DatastoreDrafter(documents=[[1, 2, 3, 4, 5], [9, 2, 3, 7, 7]], max_ngram=3, min_ngram=1)
    draft = d.propose(torch.tensor([[-1, 1, 2, 3], [0, 9, 2, 3], [0, 0, 0, 42]]), 2)
    assert draft.tokens[0].tolist() == [4, 5] and draft.tokens[1].tolist() == [7, 7]
    assert draft.lengths.tolist() == [2, 2, 0]


def test_bad_config() -> None:
    with pytest.raises(arkit.ConfigError, match="min_ngram"):
        DatastoreDrafter(documents=[[1]], min_ngram=3, max_ngram=2)
    with pytest.raises(arkit.ConfigError, match="at least one document"):
        DatastoreDrafter(documents=[])


class TestDatastoreContract(DrafterContract):
    component = "retrieval/datastore"
    vocab_size = 40
    config = {"documents": [[1, 2, 3, 4, 5, 6], [3, 4, 7, 8, 9]], "max_ngram": 3, "min_ngram": 1}
