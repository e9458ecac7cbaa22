"""The fit loop: loss goes down in a bounded number of steps, and bad input is refused."""

from __future__ import annotations

import pytest

import arkit
from tests.helpers import tiny_pipeline

CORPUS = ["the cat sat on the mat. " * 4, "the dog sat on the log. " * 4, "a cat and a dog. " * 4] * 4


def test_loss_decreases_on_a_repetitive_corpus() -> None:
    pipe = tiny_pipeline()
    result = pipe.fit(CORPUS, arkit.TrainConfig(steps=40, batch_size=8, seq_len=32, lr=3e-3, warmup_steps=5, progress=False))
    assert result.steps == 40 and len(result.losses) == 40 and result.tokens == 40 * 8 * 32
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)  # from ~5.5 nats (uniform over 259) to well under 3.3


def test_training_is_reproducible_under_a_seed() -> None:
    config = arkit.TrainConfig(steps=5, batch_size=4, seq_len=16, progress=False, seed=3)
    a, b = tiny_pipeline(), tiny_pipeline()
    b.backbone.load_state_dict(a.backbone.state_dict())
    b.head.load_state_dict(a.head.state_dict())
    assert a.fit(CORPUS, config).losses == b.fit(CORPUS, config).losses


def test_empty_data_and_too_little_data() -> None:
    with pytest.raises(arkit.InputError, match="empty"):
        tiny_pipeline().fit([], steps=1, progress=False)
    with pytest.raises(arkit.InputError, match="seq_len"):
        tiny_pipeline().fit(["ab"], steps=1, seq_len=64, progress=False)


def test_items_the_tokenizer_rejects_name_the_item() -> None:
    with pytest.raises(arkit.InputError, match="item 1"):
        tiny_pipeline().fit(["fine", 42], steps=1, progress=False)


def test_sequences_longer_than_the_context_are_refused() -> None:
    with pytest.raises(arkit.InputError, match="max_seq_len"):
        tiny_pipeline().fit(CORPUS, steps=1, seq_len=500, progress=False)


def test_non_finite_loss_stops_with_the_step() -> None:
    with pytest.raises(arkit.TrainingError, match=r"at step [12]: lower TrainConfig.lr"):
        tiny_pipeline().fit(CORPUS, steps=3, lr=1e30, warmup_steps=0, grad_clip=None, seq_len=16, progress=False)


def test_bad_train_config_values() -> None:
    with pytest.raises(arkit.ConfigError, match="steps"):
        arkit.TrainConfig(steps=0)
    with pytest.raises(arkit.ConfigError, match="lr"):
        arkit.TrainConfig(lr=-1.0)
