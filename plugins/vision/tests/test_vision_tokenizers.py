"""Tokenizers: contracts, shapes, determinism, bad input, learning, saving and loading."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import torch

import arkit
from arkit.testing import TokenizerContract
from arkit_vision import Image, MultiScaleVQTokenizer, PixelTokenizer, VQTokenizer

pixels_8x8 = st.lists(st.integers(0, 16), min_size=64, max_size=64).map(lambda v: np.array(v, np.uint8).reshape(8, 8))
labelled = st.builds(Image, pixels_8x8, st.none() | st.integers(0, 9))
invalid = st.sampled_from([
    np.zeros((8, 8), np.float32), np.zeros((7, 8), np.uint8), np.zeros((8, 8, 3), np.uint8),
    np.full((8, 8), 17, np.uint8), Image(np.zeros((8, 8), np.uint8), label=10), "digit", 12, -1, True,
])


class TestPixelsContract(TokenizerContract):
    component = "vision/pixels"
    items = labelled
    invalid_items = invalid


class TestVQContract(TokenizerContract):
    component = "vision/vq"
    config = {"codebook_size": 16, "hidden": 8}
    items = labelled
    invalid_items = invalid
    max_examples = 15


class TestMSVQContract(TokenizerContract):
    component = "vision/msvq"
    config = {"codebook_size": 16, "hidden": 8}
    items = labelled
    invalid_items = invalid
    max_examples = 15


# -- pixels ---------------------------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(image=labelled)
def test_pixels_round_trip_and_layout(image):
    tok = PixelTokenizer()
    ids = tok.encode(image)
    assert len(ids) == 65 and ids[0] == (tok.special_tokens["null"] if image.label is None else 17 + image.label)
    assert ids[1:] == image.pixels.reshape(-1).tolist()
    assert tok.decode(ids) == image
    assert tok.encode(image.pixels) == ids[1:]  # a bare array: pixels only


def test_pixels_rgb_and_neighbours():
    tok = PixelTokenizer(height=2, width=3, channels=3, levels=4, num_classes=0)
    rgb = np.arange(18).reshape(2, 3, 3) % 4
    ids = tok.encode(rgb)
    assert len(ids) == 18 and max(ids) < 12
    assert np.array_equal(tok.decode(ids).pixels, rgb)
    assert "null" not in tok.special_tokens
    with pytest.raises(arkit.InputError, match="no classes"):
        tok.encode(Image(rgb, label=1))
    near = tok.neighbours(2)
    assert near[0] == [1, 2] and near[5] == [4, 6] and near[12] == []


def test_prompts_encode_class_and_null():
    tok = PixelTokenizer()
    assert tok.encode(3) == [20] and tok.encode(None) == [tok.special_tokens["null"]]
    with pytest.raises(arkit.InputError, match="out of range"):
        tok.encode(10)


# -- VQ ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_vq(digits):
    tok = VQTokenizer(codebook_size=32)
    report = tok.fit(digits.train[:600], steps=150, batch_size=64)
    return tok, report


def test_vq_shapes_determinism_and_usage(fitted_vq, digits):
    tok, report = fitted_vq
    assert tok.fitted and report.steps == 150
    assert report.usage >= 0.9, report
    assert tok.codebook_usage(digits.test) >= 0.9
    ids = tok.encode(digits.test[0])
    assert len(ids) == 65 and ids[0] == 32 + digits.test[0].label  # class ids follow the 32 codes
    assert tok.encode(digits.test[0]) == ids
    decoded = tok.decode(ids)
    assert decoded.pixels.shape == (8, 8) and decoded.pixels.dtype == np.uint8 and decoded.label == digits.test[0].label
    maps = tok.encode_maps(digits.test[0])
    assert [tuple(m.shape) for m in maps] == [(8, 8)] and maps[0].flatten().tolist() == ids[1:]
    assert tok.decode_maps(maps).pixels.tolist() == decoded.pixels.tolist()
    # reconstruction: far better than predicting the mean image
    x = np.stack([im.pixels for im in digits.test]).astype(float) / 16
    assert tok.reconstruction_error(digits.test) < 0.1 * float(((x - x.mean(0)) ** 2).mean())


def test_vq_save_load_and_mismatched_codebook(fitted_vq, digits, tmp_path):
    tok, _ = fitted_vq
    pipe = arkit.Pipeline(tokenizer=tok, backbone=arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size,
                                                                d_model=16, n_layers=1, n_heads=2),
                          head=arkit.create("head", "core/categorical", vocab_size=tok.vocab_size, d_model=16))
    pipe.save_pretrained(tmp_path / "p")
    loaded = arkit.Pipeline.from_pretrained(tmp_path / "p").tokenizer
    assert loaded.fitted and loaded.encode(digits.test[1]) == tok.encode(digits.test[1])
    # the same folder, but its config claims another codebook size: refused clearly
    import json

    manifest = json.loads((tmp_path / "p" / "pipeline.json").read_text())
    manifest["components"]["tokenizer"]["config"]["codebook_size"] = 64
    (tmp_path / "p" / "pipeline.json").write_text(json.dumps(manifest))
    with pytest.raises(arkit.WeightsError, match="tokenizer"):
        arkit.Pipeline.from_pretrained(tmp_path / "p")


def test_unfitted_vq_is_fitted_by_pipeline_fit(digits):
    tok = VQTokenizer(codebook_size=16, hidden=8, fit_steps=20)
    assert not tok.fitted
    pipe = arkit.Pipeline(tokenizer=tok, backbone=arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size,
                                                                d_model=16, n_layers=1, n_heads=2, max_seq_len=80),
                          head=arkit.create("head", "core/categorical", vocab_size=tok.vocab_size, d_model=16))
    pipe.fit(list(digits.train[:64]), steps=2, batch_size=4, seq_len=66, threads=1, progress=False)
    assert tok.fitted


@pytest.mark.parametrize("bad, match", [
    ({"codebook_size": 1}, "codebook_size"), ({"image_size": 10, "downsample": 2}, "divisible"),
    ({"scales": (2, 4, 8)}, "start at 1"), ({"scales": (1, 2, 4)}, "end at"), ({"num_classes": -1}, "num_classes"),
])
def test_bad_config(bad, match):
    with pytest.raises(arkit.ConfigError, match=match):
        MultiScaleVQTokenizer(**bad) if "scales" in bad else VQTokenizer(**bad)


def test_bad_maps_and_fit_data():
    tok = MultiScaleVQTokenizer(codebook_size=8, hidden=8)
    with pytest.raises(arkit.InputError, match="token maps"):
        tok.decode_maps([torch.zeros(1, 1, dtype=torch.long)])
    with pytest.raises(arkit.InputError, match="codebook ids"):
        tok.decode_maps([torch.full((s, s), 8) for s in (1, 2, 4, 8)])
    with pytest.raises(arkit.InputError):
        tok.fit([np.zeros((8, 8), np.float64)])


def test_msvq_layout(digits):
    tok = MultiScaleVQTokenizer(codebook_size=16, hidden=8)
    ids = tok.encode(digits.test[0])
    assert len(ids) == 1 + 85 and tok.num_content_tokens == 85
    maps = tok.encode_maps(digits.test[0])
    assert [tuple(m.shape) for m in maps] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    assert torch.cat([m.flatten() for m in maps]).tolist() == ids[1:]
    assert tok.schedule.sides == (1, 2, 4, 8)


@pytest.mark.slow
def test_multi_scale_reconstructs_at_least_as_well_as_single_scale(digits):
    errors = {}
    for name, tok in [("multi", MultiScaleVQTokenizer(codebook_size=32)), ("single", VQTokenizer(codebook_size=32))]:
        report = tok.fit(digits.train, steps=200)
        assert report.usage >= 0.9
        errors[name] = tok.reconstruction_error(digits.test)
    assert errors["multi"] <= errors["single"], errors


def test_vq_on_32x32_rgb_shapes():
    from arkit_vision import make_shapes

    shapes = make_shapes(96, seed=1)
    assert shapes[0].pixels.shape == (32, 32, 3) and {im.label for im in shapes} == {0, 1, 2, 3}
    tok = MultiScaleVQTokenizer(image_size=32, channels=3, max_value=255, downsample=2, codebook_size=16, hidden=16,
                                num_classes=4)
    report = tok.fit(shapes, steps=30, batch_size=16)
    maps = tok.encode_maps(shapes[0])
    assert [tuple(m.shape) for m in maps] == [(1, 1), (2, 2), (4, 4), (8, 8)]
    decoded = tok.decode(tok.encode(shapes[0]))
    assert decoded.pixels.shape == (32, 32, 3) and decoded.label == shapes[0].label
    assert 0 < report.usage <= 1 and np.isfinite(report.mse)
    with pytest.raises(arkit.InputError, match=r"\(32, 32, 3\)"):
        tok.encode(np.zeros((32, 32), np.uint8))
