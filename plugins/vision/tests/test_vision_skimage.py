"""VQ tokenizers on natural images: 32 x 32 RGB patches of scikit-image's sample images.

The sample images used here ship inside the scikit-image wheel (``skimage/data/``); the
test checks the files are there and forbids network connections while reading them, so
pooch never downloads anything.
"""

from __future__ import annotations

from pathlib import Path
import socket

import numpy as np
import pytest

from arkit_vision import Image, MultiScaleVQTokenizer, VQTokenizer
from arkit_vision.training import fit_tokenizer

TRAIN_IMAGES = ("astronaut", "chelsea", "rocket", "retina")
HELD_OUT = "coffee"


def _no_network(*args, **kwargs):
    raise AssertionError("reading scikit-image sample images tried to open a network connection")


def _downscaled(image: np.ndarray, factor: int = 4) -> np.ndarray:
    h, w = image.shape[0] // factor * factor, image.shape[1] // factor * factor
    return image[:h, :w].reshape(h // factor, factor, w // factor, factor, 3).mean((1, 3))


def _patches(image: np.ndarray, n: int, rng: np.random.Generator) -> list[Image]:
    ys, xs = rng.integers(0, image.shape[0] - 31, n), rng.integers(0, image.shape[1] - 31, n)
    return [Image(np.rint(image[y:y + 32, x:x + 32]).astype(np.uint8)) for y, x in zip(ys, xs)]


@pytest.fixture(scope="module")
def patches():
    """Patches of four sample images (downscaled 4x, so a patch holds an object's worth of detail) for fitting,
    and of a fifth for testing."""
    import skimage
    import skimage.data

    folder = Path(skimage.__file__).parent / "data"
    for name in (*TRAIN_IMAGES, HELD_OUT):
        assert any(folder.glob(f"{name}.*")), f"{name} is not in the scikit-image wheel ({folder})"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", _no_network)
        images = {name: getattr(skimage.data, name)() for name in (*TRAIN_IMAGES, HELD_OUT)}
    assert all(im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3 for im in images.values())
    rng = np.random.default_rng(0)
    train = [p for name in TRAIN_IMAGES for p in _patches(_downscaled(images[name]), 250, rng)]
    return train, _patches(_downscaled(images[HELD_OUT]), 200, rng)


def _mean_colour_mse(images: list[Image]) -> float:
    """The baseline: every pixel of a patch replaced by the patch's mean colour (3 unquantised numbers per patch)."""
    x = np.stack([im.pixels for im in images]).astype(np.float64) / 255
    return float(((x - x.mean((1, 2), keepdims=True)) ** 2).mean())


@pytest.mark.slow
@pytest.mark.parametrize("kind", [VQTokenizer, MultiScaleVQTokenizer])
def test_vq_tokenizers_reconstruct_held_out_natural_patches(kind, patches):
    train, test = patches
    tok = kind(image_size=32, channels=3, max_value=255, downsample=2, codebook_size=64, hidden=16, num_classes=0)
    report = fit_tokenizer(tok, train, warmup_steps=200, steps=150, colour_weight=0.0)
    assert report.usage >= 0.9
    baseline = _mean_colour_mse(test)
    # measured (seed 0): vq 0.0096, msvq 0.0091 against a baseline of 0.0306 on the held-out image
    assert tok.reconstruction_error(test) < 0.5 * baseline, (tok.reconstruction_error(test), baseline)
    ids = tok.encode(test[0])
    assert len(ids) == tok.num_content_tokens == (64 if kind is VQTokenizer else 85)  # no classes: content only
    assert tok.encode(test[0]) == ids and tok.codes(test[:4]).tolist() == tok.codes(test[:4]).tolist()
    decoded = tok.decode(ids)
    assert decoded.pixels.shape == (32, 32, 3) and decoded.pixels.dtype == np.uint8 and decoded.label is None
    assert tok.decode(ids) == decoded
