"""Sample quality: a classifier trained on real images judges generated ones.

- :class:`ImageJudge`: scikit-learn's ``MLPClassifier`` fitted on real training images
  (pixels / ``max_value``, optionally average-pooled). Its penultimate layer is the feature
  space of the Frechet distance. :class:`DigitJudge` is the digits' judge (``max_value=16``);
  :func:`shapes_judge` the 32 x 32 RGB shapes' (``max_value=255``, pooled 2 x 2 to 16 x 16 x 3).
- :func:`frechet_distance` between two feature sets (means and covariances).
- :func:`near_copy_rate`: the share of samples whose nearest training image is closer than
  ``factor`` times the median nearest-training distance of real held-out images.
- :func:`independent_pixel_bits`: held-out bits per pixel of a per-class independent-pixel model
  (the baseline an autoregressive model must beat).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import linalg

import arkit

from .image import Image

__all__ = ["DigitJudge", "ImageJudge", "frechet_distance", "independent_pixel_bits", "near_copy_rate",
           "nearest_distances", "shapes_judge"]


def _matrix(images: Sequence[Image] | np.ndarray, pool: int = 1) -> np.ndarray:
    """``[N, H, W(, C)]`` pixels (averaged over ``pool x pool`` blocks), flattened to float64 ``[N, D]``."""
    if isinstance(images, np.ndarray):
        x = images.astype(np.float64)
    else:
        x = np.stack([np.asarray(im.pixels, dtype=np.float64) for im in images])
    if pool > 1:
        n, h, w = x.shape[:3]
        x = x[:, :h - h % pool, :w - w % pool].reshape(n, h // pool, pool, w // pool, pool, *x.shape[3:]).mean((2, 4))
    return x.reshape(len(x), -1)


class ImageJudge:
    """An MLP classifier on real images (pixels / ``max_value``, averaged over ``pool x pool`` blocks): accuracy and
    features for generated ones."""

    def __init__(self, images: Sequence[Image], *, max_value: int = 16, hidden: int = 64, pool: int = 1,
                 seed: int = 0) -> None:
        from sklearn.neural_network import MLPClassifier
        from threadpoolctl import threadpool_limits

        if not images or any(im.label is None for im in images):
            raise arkit.InputError("an image judge is trained on labelled images; got none or some without a label")
        if not isinstance(pool, int) or pool < 1:
            raise arkit.ConfigError(f"pool must be an integer >= 1, got {pool!r}")
        self.max_value, self.pool = max_value, pool
        labels = np.array([im.label for im in images])
        self.model = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=600, random_state=seed)
        with threadpool_limits(1):  # one BLAS thread, like torch here: a busy multi-thread BLAS is ~10x slower
            self.model.fit(self._inputs(images), labels)

    def _inputs(self, images: Sequence[Image] | np.ndarray) -> np.ndarray:
        x = _matrix(images, self.pool) / self.max_value
        trained_on = getattr(self.model, "n_features_in_", None)  # None while fitting
        if trained_on is not None and x.shape[1] != trained_on:
            raise arkit.InputError(f"the judge was trained on images of {trained_on} (pooled) values, "
                                   f"got {x.shape[1]}: judge images of the size it was trained on")
        return x

    def predict(self, images: Sequence[Image] | np.ndarray) -> np.ndarray:
        return self.model.predict(self._inputs(images))

    def accuracy(self, images: Sequence[Image], labels: Sequence[int] | None = None) -> float:
        """Share of images classified as their label (``labels`` or each image's own)."""
        truth = np.array(labels if labels is not None else [im.label for im in images])
        return float(np.mean(self.predict(images) == truth))

    def features(self, images: Sequence[Image] | np.ndarray) -> np.ndarray:
        """Penultimate-layer activations ``[N, hidden]`` (ReLU of the first layer)."""
        x = self._inputs(images)
        return np.maximum(x @ self.model.coefs_[0] + self.model.intercepts_[0], 0.0)


class DigitJudge(ImageJudge):
    """The digits' judge: an :class:`ImageJudge` on pixels / 16, no pooling."""

    def __init__(self, images: Sequence[Image], *, max_value: int = 16, hidden: int = 64, seed: int = 0) -> None:
        super().__init__(images, max_value=max_value, hidden=hidden, pool=1, seed=seed)


def shapes_judge(images: Sequence[Image], *, hidden: int = 64, seed: int = 0) -> ImageJudge:
    """The judge of 32 x 32 RGB shapes: pixels / 255 averaged over 2 x 2 blocks (768 inputs), 64 hidden units."""
    return ImageJudge(images, max_value=255, hidden=hidden, pool=2, seed=seed)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))`` between two ``[N, D]`` feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # tr (S_a S_b)^(1/2) = sum of sqrt(eigenvalues of S_a^(1/2) S_b S_a^(1/2)): symmetric, stable when singular
    w, v = linalg.eigh(s_a)
    root_a = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    cross = np.sqrt(np.clip(linalg.eigvalsh(root_a @ s_b @ root_a), 0.0, None)).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2.0 * cross)


def nearest_distances(queries: Sequence[Image] | np.ndarray, reference: Sequence[Image] | np.ndarray) -> np.ndarray:
    """Euclidean pixel distance from each query to its nearest reference image."""
    q, r = _matrix(queries), _matrix(reference)
    d2 = (q**2).sum(1)[:, None] + (r**2).sum(1)[None, :] - 2.0 * q @ r.T
    return np.sqrt(np.maximum(d2.min(1), 0.0))


def near_copy_rate(samples: Sequence[Image], train: Sequence[Image], held_out: Sequence[Image],
                   *, factor: float = 0.5) -> tuple[float, float]:
    """Share of samples closer to a training image than ``factor`` x the held-out images' median
    nearest-training distance; returns ``(rate, threshold)``."""
    threshold = factor * float(np.median(nearest_distances(held_out, train)))
    return float(np.mean(nearest_distances(samples, train) < threshold)), threshold


def independent_pixel_bits(train: Sequence[Image], test: Sequence[Image], *, levels: int = 17,
                           num_classes: int = 10, alpha: float = 1.0) -> float:
    """Held-out bits per pixel of ``p(x | y) = prod_i p_i(x_i | y)`` with add-``alpha`` smoothed counts."""
    x, y = _matrix(train).astype(np.int64), np.array([im.label for im in train])
    counts = np.full((num_classes, x.shape[1], levels), alpha)
    for c in range(num_classes):
        for level in range(levels):
            counts[c, :, level] += (x[y == c] == level).sum(0)
    logp = np.log2(counts / counts.sum(-1, keepdims=True))
    xt, yt = _matrix(test).astype(np.int64), np.array([im.label for im in test])
    bits = logp[yt[:, None], np.arange(xt.shape[1])[None, :], xt]
    return float(-bits.mean())
