"""The fit loop: loss goes down in a bounded number of steps, options work, and bad input is refused."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import arkit
from arkit._corpus import tiny_corpus
from tests.helpers import tiny_pipeline

torch.set_num_threads(1)

CORPUS = ["the cat sat on the mat. " * 4, "the dog sat on the log. " * 4, "a cat and a dog. " * 4] * 4


def _same_weights(a: arkit.Pipeline, b: arkit.Pipeline) -> None:
    b.backbone.load_state_dict(a.backbone.state_dict())
    b.head.load_state_dict(a.head.state_dict())


def test_loss_decreases_on_a_repetitive_corpus() -> None:
    pipe = tiny_pipeline()
    result = pipe.fit(CORPUS, arkit.TrainConfig(steps=40, batch_size=8, seq_len=32, lr=3e-3, warmup_steps=5, progress=False))
    assert result.steps == 40 and len(result.losses) == 40
    assert 0.9 * 40 * 8 * 32 < result.tokens <= 40 * 8 * 32  # scored tokens: padding only at each epoch's end
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.6 * first, (first, last)  # from ~5.5 nats (uniform over 259) to well under 3.3


def test_loss_decreases_on_the_tiny_corpus_within_60_steps() -> None:
    pipe = tiny_pipeline()
    corpus = arkit.tiny_corpus(40_000)
    result = pipe.fit(corpus, steps=60, batch_size=8, seq_len=64, lr=3e-3, warmup_steps=5, progress=False)
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 3.2 < first, (first, last)  # byte-level English: unigram entropy is about 3 nats


def test_tiny_corpus_is_public_and_offline() -> None:
    assert arkit.tiny_corpus is tiny_corpus
    docs = arkit.tiny_corpus(10_000)
    assert docs == arkit.tiny_corpus(10_000) and all(isinstance(d, str) for d in docs)


def test_training_is_reproducible_under_a_seed() -> None:
    config = arkit.TrainConfig(steps=5, batch_size=4, seq_len=16, progress=False, seed=3)
    a, b = tiny_pipeline(), tiny_pipeline()
    _same_weights(a, b)
    assert a.fit(CORPUS, config).losses == b.fit(CORPUS, config).losses


def test_gradient_accumulation_matches_one_big_batch() -> None:
    a, b = tiny_pipeline(), tiny_pipeline()
    _same_weights(a, b)
    common = dict(steps=6, seq_len=16, progress=False, seed=1, warmup_steps=2)
    big = a.fit(CORPUS, batch_size=8, **common)
    accumulated = b.fit(CORPUS, batch_size=2, grad_accum_steps=4, **common)
    assert big.tokens == accumulated.tokens
    assert accumulated.losses == pytest.approx(big.losses, abs=1e-5)
    for x, y in zip(a.backbone.parameters(), b.backbone.parameters()):
        torch.testing.assert_close(x, y, atol=1e-5, rtol=1e-4)


def test_streaming_sources_and_one_shot_iterators() -> None:
    class Reiterable:
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter(CORPUS)

    result = tiny_pipeline().fit(Reiterable(), steps=12, batch_size=8, seq_len=32, progress=False)
    assert len(result.losses) == 12  # 37 rows per epoch: several epochs
    one_epoch = tiny_pipeline().fit((t for t in CORPUS), steps=2, batch_size=8, seq_len=32, progress=False)
    assert len(one_epoch.losses) == 2
    with pytest.raises(arkit.InputError, match="ran out.*one-shot iterator"):
        tiny_pipeline().fit((t for t in CORPUS), steps=10, batch_size=8, seq_len=32, progress=False)


def test_periodic_evaluation_and_metrics_as_json_lines(tmp_path: Path) -> None:
    config = arkit.TrainConfig(steps=20, batch_size=8, seq_len=32, eval_every=10, eval_fraction=0.25,
                               out_dir=tmp_path, log_every=5, progress=False)
    pipe = tiny_pipeline()
    result = pipe.fit(CORPUS, config)
    assert [s for s, _ in result.eval_losses] == [10, 20]
    assert result.eval_losses[1][1] < result.eval_losses[0][1] < 6.0
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in lines if "loss" in x]
    assert [x["step"] for x in train] == [5, 10, 15, 20]
    assert train[-1]["loss"] == result.losses[-1] and train[-1]["tokens"] == result.tokens
    assert {"lr", "grad_norm", "tokens_per_s", "elapsed_s"} <= set(train[0])
    assert [x["eval_loss"] for x in lines if "eval_loss" in x] == [v for _, v in result.eval_losses]
    saved = arkit.Pipeline.from_pretrained(tmp_path / "pipeline")  # the final result is a saved pipeline
    assert torch.equal(saved.head.proj.weight, pipe.head.proj.weight)


def test_explicit_eval_data_and_eval_batches() -> None:
    result = tiny_pipeline().fit(CORPUS, steps=4, batch_size=4, seq_len=32, eval_every=2, eval_batches=1,
                                 progress=False, eval_data=["the cat sat on the log. " * 3])
    assert [s for s, _ in result.eval_losses] == [2, 4]


def test_bf16_autocast_on_cpu() -> None:
    result = tiny_pipeline().fit(CORPUS, steps=3, batch_size=4, seq_len=16, mixed_precision="bf16", progress=False)
    assert all(math.isfinite(x) for x in result.losses)


def test_overflow_rules() -> None:
    long = ["x" * 100]
    with pytest.raises(arkit.InputError, match="document 0 has 102 tokens.*overflow"):
        tiny_pipeline().fit(long, steps=1, seq_len=16, overflow="error", progress=False)
    truncated = tiny_pipeline().fit(long, steps=1, batch_size=2, seq_len=16, overflow="truncate", progress=False)
    assert truncated.tokens == 2 * 16  # one row per epoch, the document's first 17 tokens
    split = tiny_pipeline().fit(long, steps=1, batch_size=8, seq_len=16, overflow="split", progress=False)
    assert split.tokens == 101 + 16  # every prediction of the document (7 rows), then a row of the next epoch


def test_empty_data_and_short_documents() -> None:
    with pytest.raises(arkit.InputError, match="empty"):
        tiny_pipeline().fit([], steps=1, progress=False)
    with pytest.raises(arkit.InputError, match="single text in a list"):
        tiny_pipeline().fit("just a string", steps=1, progress=False)
    short = tiny_pipeline().fit(["ab"], steps=1, batch_size=2, seq_len=64, progress=False)
    assert short.tokens == 2 * 3  # bos a b eos: three predictions per row, the rest padding


def test_items_the_tokenizer_rejects_name_the_item() -> None:
    with pytest.raises(arkit.InputError, match="item 1"):
        tiny_pipeline().fit(["fine", 42], steps=1, progress=False)


def test_sequences_longer_than_the_context_are_refused() -> None:
    with pytest.raises(arkit.InputError, match="max_seq_len"):
        tiny_pipeline().fit(CORPUS, steps=1, seq_len=500, progress=False)


def test_non_finite_loss_stops_with_the_step() -> None:
    with pytest.raises(arkit.TrainingError, match=r"at step [23]: lower TrainConfig.lr"):
        tiny_pipeline().fit(CORPUS, steps=3, lr=1e30, warmup_steps=0, grad_clip=None, seq_len=16, progress=False)


def test_non_finite_batches_can_be_skipped() -> None:
    pipe = tiny_pipeline()
    result = pipe.fit(CORPUS, steps=4, lr=1e30, warmup_steps=0, grad_clip=None, seq_len=16,
                      on_nonfinite="skip", progress=False)
    assert result.skipped_steps and len(result.losses) == 4
    assert all(bool(torch.isfinite(p).all()) for p in pipe.backbone.parameters())  # no NaN update was applied


def test_a_head_with_its_own_loss_is_trained_by_it() -> None:
    pipe = tiny_pipeline()
    calls = []

    def loss(hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(targets.shape))
        logits = pipe.head.proj(hidden)
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)

    pipe.head.loss = loss
    result = pipe.fit(CORPUS, steps=2, batch_size=4, seq_len=16, progress=False)
    assert calls == [(4, 16)] * 2 and all(math.isfinite(x) for x in result.losses)


def test_bad_train_config_values() -> None:
    with pytest.raises(arkit.ConfigError, match="steps"):
        arkit.TrainConfig(steps=0)
    with pytest.raises(arkit.ConfigError, match="lr"):
        arkit.TrainConfig(lr=-1.0)
    with pytest.raises(arkit.ConfigError, match="overflow"):
        arkit.TrainConfig(overflow="drop")  # type: ignore[arg-type]
    with pytest.raises(arkit.ConfigError, match="eval_fraction"):
        arkit.TrainConfig(eval_fraction=1.0)
    with pytest.raises(arkit.ConfigError, match="needs out_dir"):
        arkit.TrainConfig(checkpoint_every=10)
    with pytest.raises(arkit.ConfigError, match="eval_every needs held-out data"):
        tiny_pipeline().fit(CORPUS, steps=1, eval_every=1, progress=False)
