"""Sample quality on digits: a classifier trained on real images judges generated ones.

- :class:`DigitJudge`: scikit-learn's ``MLPClassifier`` fitted on real training digits. Its
  penultimate layer is the feature space of the Frechet distance.
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

from .image import Image

__all__ = ["DigitJudge", "frechet_distance", "independent_pixel_bits", "near_copy_rate", "nearest_distances"]


def _matrix(images: Sequence[Image] | np.ndarray) -> np.ndarray:
    if isinstance(images, np.ndarray):
        return images.reshape(len(images), -1).astype(np.float64)
    return np.stack([np.asarray(im.pixels, dtype=np.float64).reshape(-1) for im in images])


class DigitJudge:
    """An MLP classifier on real images (pixels / ``max_value``): accuracy and features for generated ones."""

    def __init__(self, images: Sequence[Image], *, max_value: int = 16, hidden: int = 64, seed: int = 0) -> None:
        from sklearn.neural_network import MLPClassifier

        self.max_value = max_value
        labels = np.array([im.label for im in images])
        self.model = MLPClassifier(hidden_layer_sizes=(hidden,), alpha=1e-3, max_iter=600, random_state=seed)
        self.model.fit(_matrix(images) / max_value, labels)

    def predict(self, images: Sequence[Image] | np.ndarray) -> np.ndarray:
        return self.model.predict(_matrix(images) / self.max_value)

    def accuracy(self, images: Sequence[Image], labels: Sequence[int] | None = None) -> float:
        """Share of images classified as their label (``labels`` or each image's own)."""
        truth = np.array(labels if labels is not None else [im.label for im in images])
        return float(np.mean(self.predict(images) == truth))

    def features(self, images: Sequence[Image] | np.ndarray) -> np.ndarray:
        """Penultimate-layer activations ``[N, hidden]`` (ReLU of the first layer)."""
        x = _matrix(images) / self.max_value
        return np.maximum(x @ self.model.coefs_[0] + self.model.intercepts_[0], 0.0)


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
