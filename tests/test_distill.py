"""FastDraft-style distillation: a draft model trained on the target's own text is accepted more often."""

from __future__ import annotations

import pytest
import torch

import arkit
from arkit.drafters.draft_model import DraftModel
from arkit.training.distill import distill_draft_model

from .helpers import tiny_pipeline

PROMPTS = [f"{w} " for w in ("the", "a cat", "hello", "zebra", "x y z", "if", "print(", "data", "one two", "ok",
                              "alpha", "beta", "gamma", "delta", "we", "it")]


def _draft() -> arkit.Pipeline:
    torch.manual_seed(5)
    return arkit.Pipeline.from_preset("core/tiny-byte", backbone={"d_model": 32, "n_layers": 1, "n_heads": 2,
                                                                  "max_seq_len": 128}, head={"d_model": 32})


def test_a_distilled_draft_model_is_accepted_more_often() -> None:
    target = tiny_pipeline()  # greedy; its random weights write a recognisable "style" of their own
    draft = _draft()
    held_out = ["seven ", "ten ", "w w "]

    def accepted() -> float:
        fast = target.replace(drafter=DraftModel(draft))
        out = fast.generate(held_out, max_new_tokens=32, num_draft_tokens=4, draft_schedule="constant")
        assert out.sequences == target.generate(held_out, max_new_tokens=32).sequences  # lossless either way
        return out.speculative.mean_accepted_per_call

    before = accepted()
    result = distill_draft_model(target, draft, PROMPTS, arkit.TrainConfig(steps=80, batch_size=8, seq_len=48,
                                                                           lr=3e-3, warmup_steps=5, progress=False),
                                 max_new_tokens=40)
    assert result.losses[-1] < result.losses[0]
    assert accepted() > before + 0.3


def test_distillation_refuses_mismatched_pipelines() -> None:
    target = tiny_pipeline()
    other = arkit.Pipeline(tokenizer=_BigVocab(),
                           backbone=arkit.create("backbone", "core/transformer", vocab_size=300, d_model=32,
                                                 n_layers=1, n_heads=2),
                           head=arkit.create("head", "core/categorical", d_model=32, vocab_size=300))
    with pytest.raises(arkit.ConfigError, match="share the target's tokenizer"):
        distill_draft_model(target, other, ["a"])
    with pytest.raises(arkit.InputError, match="no prompts"):
        distill_draft_model(target, _draft(), [])
    with pytest.raises(arkit.ConfigError, match="samples_per_prompt"):
        distill_draft_model(target, _draft(), ["a"], samples_per_prompt=0)


class _BigVocab:
    vocab_size = 300
    special_tokens: dict = {}
    lossless = True
    config: dict = {}

    def encode(self, item):  # noqa: ANN001, ANN201
        return [1]

    def decode(self, ids):  # noqa: ANN001, ANN201
        return ""
