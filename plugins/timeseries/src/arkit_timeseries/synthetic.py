"""KernelSynth-style synthetic series for pre-training (after Chronos' KernelSynth).

Chronos draws a few kernels from a bank (periodic, linear, RBF, white noise...),
combines them with random ``+`` and ``*``, and samples a Gaussian process. Here
the same idea is built from components sampled directly, which costs O(length)
instead of a Cholesky factorisation:

- periodic: a sum of one to three harmonics of a period drawn from a bank of
  common seasonalities (4, 7, 12, 24, 48, 52, 96, 168...) and random lengths;
- trend: linear, quadratic or saturating (``tanh``), with a random slope;
- noise: white Gaussian noise with a random std;
- random walk: cumulative Gaussian steps (a unit root, like many real series);
- smooth: a moving average of noise (an RBF-like smooth wiggle).

Each series combines one to five components with random ``+`` or ``*`` (products
modulate, e.g. a seasonal amplitude that grows with the trend), then gets a
random level and scale so that the scaling of the tokenizers is exercised.
``kernel_synth(n, length, seed)`` is deterministic: series ``i`` depends only on
``(seed, i)``, so the first rows are the same whatever ``n``.
"""

from __future__ import annotations

import numpy as np

from arkit.errors import ConfigError

__all__ = ["COMPONENTS", "PERIODS", "kernel_synth"]

PERIODS = (4, 5, 7, 12, 14, 24, 30, 48, 52, 60, 96, 168, 336)
COMPONENTS = ("periodic", "trend", "noise", "random_walk", "smooth")


def _component(kind: str, length: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(length, dtype=np.float64)
    if kind == "periodic":
        candidates = [p for p in PERIODS if p <= max(length // 2, 4)]
        period = float(rng.choice(candidates)) if rng.random() < 0.8 else float(rng.uniform(3.0, max(length / 2, 4.0)))
        phase = rng.uniform(0, 2 * np.pi)
        wave = np.zeros(length)
        for harmonic in range(1, int(rng.integers(1, 4)) + 1):
            wave += rng.normal(0, 1.0 / harmonic) * np.sin(2 * np.pi * harmonic * t / period + phase * harmonic)
        return wave
    x = t / max(length - 1, 1)
    if kind == "trend":
        shape = rng.integers(3)
        slope = rng.normal(0, 2.0)
        if shape == 0:
            return slope * x
        if shape == 1:
            return slope * x + rng.normal(0, 2.0) * x**2
        return slope * np.tanh(rng.uniform(1, 6) * (x - rng.uniform(0.2, 0.8)))
    if kind == "noise":
        return rng.normal(0, rng.uniform(0.05, 0.5), length)
    if kind == "random_walk":
        return np.cumsum(rng.normal(0, rng.uniform(0.02, 0.3), length))
    if kind == "smooth":
        width = int(rng.integers(3, max(4, length // 8) + 1))
        padded = rng.normal(0, 1.0, length + width - 1)
        return np.convolve(padded, np.ones(width) / np.sqrt(width), mode="valid")
    raise ConfigError(f"unknown component {kind!r}")  # pragma: no cover


def _one(length: int, rng: np.random.Generator) -> np.ndarray:
    count = int(rng.integers(1, 6))
    kinds = rng.choice(COMPONENTS, size=count, p=[0.35, 0.2, 0.15, 0.15, 0.15])
    series = _component(str(kinds[0]), length, rng)
    for kind in kinds[1:]:
        part = _component(str(kind), length, rng)
        if rng.random() < 0.7:
            series = series + part
        else:  # modulate: keep the factor positive-ish so the product stays interpretable
            series = series * (1.0 + 0.5 * part / (np.std(part) + 1e-9))
    level = rng.normal(0, 3.0) * np.std(series) if rng.random() < 0.7 else 0.0
    return (series + level) * 10.0 ** rng.uniform(-2, 3)


def kernel_synth(n: int, length: int, seed: int = 0) -> np.ndarray:
    """``n`` synthetic series of ``length`` values: a float64 array ``[n, length]``."""
    for name, value, minimum in (("n", n, 0), ("length", length, 1), ("seed", seed, 0)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    out = np.empty((n, length), dtype=np.float64)
    for i in range(n):
        out[i] = _one(length, np.random.default_rng([int(seed), i]))
    return out
