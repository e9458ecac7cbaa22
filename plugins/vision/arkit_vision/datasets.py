"""Offline image data: scikit-learn's digits and procedurally drawn coloured shapes.

Nothing downloads: the digits ship inside scikit-learn; shapes are drawn from a seed.
"""

from __future__ import annotations

import attrs
import numpy as np

from .image import Image

__all__ = ["DigitsSplit", "SHAPES", "load_digits", "make_shapes"]

SHAPES = ("square", "circle", "triangle", "cross")
"""Shape classes of :func:`make_shapes`, in label order."""


@attrs.frozen
class DigitsSplit:
    """The 1,797 digits (8 x 8, values 0..16, 10 classes) in three disjoint, seeded parts."""

    train: tuple[Image, ...]
    valid: tuple[Image, ...]
    """Held out from training, for early stopping."""
    test: tuple[Image, ...]
    """Held out from everything, for the reported numbers."""


def load_digits(*, valid: int = 150, test: int = 297, seed: int = 0) -> DigitsSplit:
    """scikit-learn's digits as labelled :class:`Image` s (uint8, values 0..16), split at random with ``seed``."""
    from sklearn.datasets import load_digits as _load

    data = _load()
    order = np.random.default_rng(seed).permutation(len(data.target))
    images = [Image(data.images[i].astype(np.uint8), label=int(data.target[i])) for i in order]
    return DigitsSplit(train=tuple(images[valid + test:]), valid=tuple(images[test:test + valid]), test=tuple(images[:test]))


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
