"""Offline image data: scikit-learn's digits and procedurally drawn coloured shapes.

Nothing downloads: the digits ship inside scikit-learn; shapes are drawn from a seed.
:func:`load_digits` and :func:`load_shapes` give the same kind of :class:`ImageSplit`:
train, valid (for early stopping) and test (for the reported numbers).
"""

from __future__ import annotations

import attrs
import numpy as np

import arkit

from .image import Image

__all__ = ["DigitsSplit", "ImageSplit", "SHAPES", "load_digits", "load_shapes", "make_shapes"]

SHAPES = ("square", "circle", "triangle", "cross")
"""Shape classes of :func:`make_shapes`, in label order."""


@attrs.frozen
class ImageSplit:
    """Labelled images in three disjoint, seeded parts (:func:`load_digits`, :func:`load_shapes`)."""

    train: tuple[Image, ...]
    valid: tuple[Image, ...]
    """Held out from training, for early stopping."""
    test: tuple[Image, ...]
    """Held out from everything, for the reported numbers."""


DigitsSplit = ImageSplit
"""The former name of :class:`ImageSplit` (the digits were its only data)."""


def load_digits(*, valid: int = 150, test: int = 297, seed: int = 0) -> ImageSplit:
    """scikit-learn's 1,797 digits (8 x 8, values 0..16, 10 classes) as labelled :class:`Image` s, split at random
    with ``seed``."""
    from sklearn.datasets import load_digits as _load

    data = _load()
    order = np.random.default_rng(seed).permutation(len(data.target))
    images = [Image(data.images[i].astype(np.uint8), label=int(data.target[i])) for i in order]
    return ImageSplit(train=tuple(images[valid + test:]), valid=tuple(images[test:test + valid]), test=tuple(images[:test]))


def make_shapes(n: int, *, size: int = 32, seed: int = 0) -> list[Image]:
    """``n`` RGB images ``[size, size, 3]`` (uint8) of one coloured shape on a dark background; label = shape index."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    images = []
    for _ in range(n):
        label = int(rng.integers(len(SHAPES)))
        r = rng.uniform(0.2, 0.35) * size
        cy, cx = rng.uniform(r, size - r, size=2)
        dy, dx = (yy - cy) / r, (xx - cx) / r
        if SHAPES[label] == "square":
            mask = (np.abs(dy) <= 0.8) & (np.abs(dx) <= 0.8)
        elif SHAPES[label] == "circle":
            mask = dy**2 + dx**2 <= 1.0
        elif SHAPES[label] == "triangle":
            mask = (dy <= 0.8) & (dy >= -0.9 + 2 * np.abs(dx))
        else:
            mask = ((np.abs(dy) <= 0.25) & (np.abs(dx) <= 1.0)) | ((np.abs(dx) <= 0.25) & (np.abs(dy) <= 1.0))
        colour = rng.uniform(0.35, 1.0, size=3)
        background = rng.uniform(0.0, 0.15, size=3)
        pixels = np.where(mask[:, :, None], colour, background)
        images.append(Image(np.rint(pixels * 255).astype(np.uint8), label=label))
    return images


def load_shapes(*, train: int = 2000, valid: int = 200, test: int = 400, size: int = 32, seed: int = 0) -> ImageSplit:
    """``train + valid + test`` images of :func:`make_shapes` (RGB ``[size, size, 3]``, uint8, 4 classes: :data:`SHAPES`),
    drawn with ``seed`` and split in that order. Every image is drawn independently, so the parts are disjoint
    samples of the same distribution."""
    for name, value, minimum in (("train", train, 1), ("valid", valid, 1), ("test", test, 1), ("size", size, 8)):
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise arkit.ConfigError(f"load_shapes {name} must be an integer >= {minimum}, got {value!r}")
    images = make_shapes(train + valid + test, size=size, seed=seed)
    return ImageSplit(train=tuple(images[:train]), valid=tuple(images[train:train + valid]),
                      test=tuple(images[train + valid:]))
