"""Generation (raster, next-scale, guidance), training helpers, metrics and the command line."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import arkit
from arkit_vision import PixelTokenizer, sample_next_scale, sample_raster
from arkit_vision.generate import image_bits
from arkit_vision.metrics import DigitJudge, frechet_distance, independent_pixel_bits, near_copy_rate
from arkit_vision.recipes import ModelSize, train_next_scale, train_raster
from arkit_vision.training import scale_items, with_label_dropout

TINY = ModelSize(d_model=32, n_layers=1, n_heads=2, steps=40, batch_size=16)


@pytest.fixture(scope="module")
def raster(digits):
    return train_raster(digits, TINY)


@pytest.fixture(scope="module")
def next_scale(digits):
    return train_next_scale(digits, TINY, codebook_size=16, tokenizer_steps=40)


def test_early_stopping_keeps_the_best_evaluation(raster, digits):
    pipe, stopped = raster
    steps = [s for s, _ in stopped.eval_losses]
    assert steps[-1] == TINY.steps and len(steps) >= 2
    assert stopped.best_eval_loss == min(v for _, v in stopped.eval_losses)
    # the kept weights are those of the best step: re-evaluating a held-out batch gives finite bits below uniform
    bits = image_bits(pipe, digits.valid)
    assert 0 < bits < math.log2(17) + 0.5


def test_raster_samples(raster):
    pipe, _ = raster
    labels = [0, 1, 2, None]
    out = sample_raster(pipe, labels, seed=3)
    assert len(out.images) == 4 and out.model_calls == 64
    assert all(im.pixels.shape == (8, 8) and im.pixels.max() <= 16 for im in out.images)
    assert [im.label for im in out.images] == labels
    assert sample_raster(pipe, labels, seed=3).images == out.images  # seeded
    guided = sample_raster(pipe, labels[:3], seed=3, guidance_scale=3.0)
    assert guided.images != out.images[:3]  # guidance changes the distribution


def test_generation_bad_input(raster):
    pipe, _ = raster
    with pytest.raises(arkit.InputError, match="out of range"):
        sample_raster(pipe, [10])
    unconditional = PixelTokenizer(num_classes=0)
    bare = pipe.replace(tokenizer=unconditional, head=arkit.create("head", "core/categorical", d_model=32,
                                                                   vocab_size=unconditional.vocab_size))
    with pytest.raises(arkit.ConfigError, match="num_classes"):
        sample_raster(bare, [1])


def test_next_scale_samples_in_four_calls(next_scale):
    pipe, _ = next_scale
    tok = pipe.tokenizer
    out = sample_next_scale(pipe, [3, 7], tok.schedule, seed=0)
    assert out.model_calls == 4 and [im.label for im in out.images] == [3, 7]
    assert all(im.pixels.shape == (8, 8) for im in out.images)
    guided = sample_next_scale(pipe, [3, 7], tok.schedule, seed=0, guidance_scale=2.0)
    assert guided.model_calls == 4


def test_next_scale_training_rows_are_block_causal(next_scale, digits):
    tok = next_scale[0].tokenizer
    schedule = tok.schedule
    (label, maps), = scale_items(tok, digits.test[:1])
    assert label == digits.test[0].label and [tuple(m.shape) for m in maps] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    mask = schedule.attention_mask(2)  # prompt [bos, class]
    block = schedule.block_ids(2)
    for q in range(mask.shape[0]):
        for k in range(mask.shape[1]):
            expected = k <= q if block[q] == 0 else block[k] <= block[q]
            assert bool(mask[q, k]) == expected, (q, k)


def test_label_dropout_adds_unlabelled_copies(digits):
    data = with_label_dropout(digits.train, 0.2, seed=1)
    extra = data[len(digits.train):]
    assert data[:len(digits.train)] == list(digits.train)
    assert all(im.label is None for im in extra)
    n = len(digits.train)
    assert abs(len(extra) - 0.2 * n) < 4 * math.sqrt(n * 0.2 * 0.8)  # binomial, 4 sigma
    with pytest.raises(arkit.ConfigError):
        with_label_dropout(digits.train, 1.0)


# -- metrics -----------------------------------------------------------------------------------
def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = frechet_distance(a, a + np.array([1.0, 0, 0, 0]))
    assert shifted == pytest.approx(1.0, abs=1e-6)
    b = rng.normal(size=(2000, 4)) * 2.0  # covariance 4 I vs I: 4 * (1 + 4 - 2 * 2) = 4
    assert frechet_distance(a, b) == pytest.approx(4.0, rel=0.15)


def test_judge_baseline_and_near_copies(digits):
    judge = DigitJudge(digits.train)
    assert judge.accuracy(digits.test) >= 0.93
    assert judge.features(digits.test).shape == (len(digits.test), 64)
    bits = independent_pixel_bits(digits.train, digits.test)
    assert 1.0 < bits < math.log2(17)
    rate, threshold = near_copy_rate(digits.train[:50], digits.train, digits.test)
    assert rate == 1.0 and threshold > 0  # training images are copies of themselves
    rate, _ = near_copy_rate(digits.test, digits.train, digits.valid)
    assert rate < 0.05


# -- command line ------------------------------------------------------------------------------
def test_cli_help_and_bad_arguments(capsys):
    from arkit.cli import main

    assert main(["vision"]) == 0
    assert "eval" in capsys.readouterr().out
    assert main(["vision", "eval", "--samples", "0"]) == 1
    assert "--samples must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["vision/digits-raster", "vision/digits-next-scale"])
def test_presets_build_and_only_sample_content(name):
    pipe = arkit.Pipeline.from_preset(name)
    tok = pipe.tokenizer
    content = tok.vocab_size - len(tok.special_tokens) - tok.num_classes
    scores = pipe.sampler.process(torch.zeros(2, tok.vocab_size), torch.full((2, 1), -1))
    assert torch.isfinite(scores[:, :content]).all() and not torch.isfinite(scores[:, content:]).any()
