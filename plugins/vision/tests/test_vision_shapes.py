"""The 32 x 32 coloured shapes: data, judge, tokenizers, raster-VQ and next-scale models, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import arkit
from arkit_vision import MultiScaleVQTokenizer, VQTokenizer, sample_next_scale, sample_raster
from arkit_vision.datasets import SHAPES, DigitsSplit, ImageSplit, load_shapes
from arkit_vision.metrics import ImageJudge, shapes_judge
from arkit_vision.recipes import ModelSize, shapes_tokenizer, train_next_scale, train_vq_raster
from arkit_vision.training import fit_tokenizer

TINY = ModelSize(d_model=16, n_layers=1, n_heads=2, steps=4, batch_size=8)


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(train=2000, valid=64, test=200)


@pytest.fixture(scope="module")
def small(shapes):
    """A few shapes for models that only have to run, not to be good."""
    return ImageSplit(train=shapes.train[:96], valid=shapes.valid[:16], test=shapes.test[:16])


@pytest.fixture(scope="module")
def judge(shapes):
    return shapes_judge(shapes.train)


@pytest.fixture(scope="module")
def tokenizers(small):
    vq = shapes_tokenizer(small, codebook_size=16, warmup_steps=2, steps=2)
    msvq = shapes_tokenizer(small, multi_scale=True, codebook_size=16, warmup_steps=2, steps=2)
    return vq, msvq


# -- data -------------------------------------------------------------------------------------
def test_load_shapes_splits(shapes):
    assert DigitsSplit is ImageSplit
    assert (len(shapes.train), len(shapes.valid), len(shapes.test)) == (2000, 64, 200)
    for part in (shapes.train, shapes.valid, shapes.test):
        assert all(im.pixels.shape == (32, 32, 3) and im.pixels.dtype == np.uint8 for im in part)
        assert {im.label for im in part} == set(range(len(SHAPES)))
    labels = np.array([im.label for im in shapes.train])
    counts = np.bincount(labels, minlength=4)
    assert np.all(np.abs(counts - 500) < 4 * math.sqrt(2000 * 0.25 * 0.75)), counts  # uniform classes, 4 sigma
    train = {im for im in shapes.train}
    assert not train & set(shapes.test) and not train & set(shapes.valid)  # continuous colours: no repeats
    again = load_shapes(train=2000, valid=64, test=200)
    assert again.test == shapes.test and load_shapes(train=10, valid=1, test=1, seed=1).train[0] != shapes.train[0]


@pytest.mark.parametrize("bad", [{"train": 0}, {"valid": -1}, {"test": 1.5}, {"size": 4}, {"train": True}])
def test_load_shapes_bad_arguments(bad):
    with pytest.raises(arkit.ConfigError, match=next(iter(bad))):
        load_shapes(**bad)


# -- judge ------------------------------------------------------------------------------------
def test_shapes_judge(shapes, judge):
    # real held-out shapes: chance is 0.25; the 2 x 2-pooled MLP scores 0.96 (seeded)
    assert judge.accuracy(shapes.test) >= 0.93
    assert judge.features(shapes.test).shape == (200, 64)
    assert isinstance(judge, ImageJudge) and judge.pool == 2 and judge.max_value == 255
    with pytest.raises(arkit.InputError, match="768"):
        judge.accuracy([im for im in load_shapes(train=2, valid=1, test=1, size=16).train])
    with pytest.raises(arkit.InputError, match="labelled"):
        ImageJudge([shapes.train[0].__class__(shapes.train[0].pixels)], max_value=255)


# -- tokenizers and models: shapes of what comes out ------------------------------------------
def test_shapes_tokenizers_encode_decode(tokenizers, shapes):
    vq, msvq = tokenizers
    assert vq.fitted and msvq.fitted and vq.num_classes == 4
    image = shapes.test[0]
    for tok, n, sides in ((vq, 64, [(8, 8)]), (msvq, 85, [(1, 1), (2, 2), (4, 4), (8, 8)])):
        ids = tok.encode(image)
        assert len(ids) == 1 + n and ids[0] == tok.codebook_size + image.label
        assert tok.encode(image) == ids  # deterministic
        assert [tuple(m.shape) for m in tok.encode_maps(image)] == sides
        decoded = tok.decode(ids)
        assert decoded.pixels.shape == (32, 32, 3) and decoded.pixels.dtype == np.uint8 and decoded.label == image.label
        with pytest.raises(arkit.InputError, match=r"\(32, 32, 3\)"):
            tok.encode(np.zeros((8, 8), np.uint8))  # a digit-sized image
        with pytest.raises(arkit.InputError, match=r"\(32, 32, 3\)"):
            tok.encode(np.zeros((32, 32, 1), np.uint8))  # wrong channel count
        with pytest.raises(arkit.InputError, match="out of range"):
            tok.encode(4)  # 4 classes: 0..3


def test_raster_vq_and_next_scale_models_generate_rgb_shapes(tokenizers, small):
    vq, msvq = tokenizers
    raster, stopped = train_vq_raster(small, vq, TINY)
    assert raster.tokenizer is vq and stopped.best_step in [s for s, _ in stopped.eval_losses]
    out = sample_raster(raster, [0, 3, None], seed=1)
    assert out.model_calls == 64 and [im.label for im in out.images] == [0, 3, None]
    assert all(im.pixels.shape == (32, 32, 3) and im.pixels.dtype == np.uint8 for im in out.images)
    assert sample_raster(raster, [0, 3, None], seed=1).images == out.images
    guided = sample_raster(raster, [0, 3], seed=1, guidance_scale=2.0)
    assert guided.model_calls == 64 and len(guided.images) == 2

    scales, _ = train_next_scale(small, TINY, tokenizer=msvq)
    assert scales.tokenizer is msvq
    for g in (1.0, 2.0):
        out = sample_next_scale(scales, [1, 2, 3], msvq.schedule, seed=0, guidance_scale=g)
        assert out.model_calls == 4 and [im.label for im in out.images] == [1, 2, 3]
        assert all(im.pixels.shape == (32, 32, 3) for im in out.images)
    with pytest.raises(arkit.InputError, match="out of range"):
        sample_raster(raster, [4])
    with pytest.raises(arkit.InputError, match="out of range"):
        sample_next_scale(scales, [0, 4], msvq.schedule)


def test_shapes_recipes_bad_input(tokenizers, small):
    vq, msvq = tokenizers
    with pytest.raises(arkit.ConfigError, match="fitted"):
        train_vq_raster(small, VQTokenizer(image_size=32, channels=3, max_value=255, downsample=2, num_classes=4), TINY)
    with pytest.raises(arkit.ConfigError, match="single-scale"):
        train_vq_raster(small, msvq, TINY)
    with pytest.raises(arkit.ConfigError, match="MultiScaleVQTokenizer"):
        train_next_scale(small, TINY, tokenizer=vq)
    two = VQTokenizer(image_size=32, channels=3, max_value=255, downsample=2, codebook_size=8, hidden=8, num_classes=2)
    fit_tokenizer(two, small.train[:16], warmup_steps=1, steps=1)
    with pytest.raises(arkit.ConfigError, match="num_classes=4"):
        train_vq_raster(small, two, TINY)  # shapes have labels 0..3
    with pytest.raises(arkit.ConfigError, match="warmup_steps"):
        fit_tokenizer(two, small.train, warmup_steps=-1)
    with pytest.raises(arkit.InputError, match="none"):
        fit_tokenizer(two, [])


def test_next_scale_takes_a_tokenizer_config(small):
    config = {"image_size": 32, "channels": 3, "max_value": 255, "downsample": 2, "codebook_size": 8, "hidden": 8,
              "num_classes": 4}
    pipe, _ = train_next_scale(small, TINY, tokenizer=config, tokenizer_steps=2)
    assert isinstance(pipe.tokenizer, MultiScaleVQTokenizer) and pipe.tokenizer.fitted
    assert pipe.tokenizer.scales == (1, 2, 4, 8) and pipe.tokenizer.image_size == 32
