"""Training data for forecasters: random windows of series, each scaled by its own context.

A forecaster sees a context scaled by the context's statistics, then predicts
the values after it with the same scale. :class:`TrainingWindows` yields
windows cut from a mix of KernelSynth series (:mod:`arkit_timeseries.synthetic`)
and real training series, each window scaled the same way: a window of ``L``
values gets the scale of its first ``L - p`` values (``p``, the part a model
would forecast, drawn from 1 to ``max_horizon``). The windows are lists of
already scaled floats (NaN kept as missing), ready for ``pipe.fit`` with the
``timeseries/mean-scale-bins`` tokenizer (whose plain ``encode`` uses the
identity scale) and ``overflow="truncate"`` (whole windows, never cut).

With probability ``detrend_share`` a window is first detrended: the
least-squares line through its context part (:func:`~arkit_timeseries.scaling.fit_trend`)
is subtracted from the whole window (extrapolated over the future part), and
the residual is scaled. A model trained on both kinds forecasts with or without
``forecast(..., detrend=True)``.

The object is a re-iterable, endless stream: every ``iter()`` restarts the same
seeded sequence, so training is reproducible and never runs out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from arkit.errors import ConfigError

from .scaling import as_series, check_scaling, compute_scale, fit_trend, trend_line
from .synthetic import kernel_synth

__all__ = ["RECIPE", "TrainingWindows", "pretrain"]

RECIPE = {"batch_size": 16, "seq_len": 256, "lr": 2e-3, "real_share": 0.4, "detrend_share": 0.5}
"""The shipped checkpoint's training settings (``scripts/pretrain.py`` defaults, ``arkit timeseries eval --train-steps``)."""


class TrainingWindows:
    """An endless, seeded stream of scaled windows from synthetic and real series.

    ``real``: training series (never the held-out tails you evaluate on);
    ``real_share``: the probability a window comes from them (drawn in
    proportion to their lengths); the rest are KernelSynth series of
    ``synthetic_length`` values. Window lengths are uniform in
    ``[min_length, max_length]`` (capped by the series' length).
    """

    def __init__(
        self, real: Sequence[Any] = (), *, real_share: float = 0.3, min_length: int = 32, max_length: int = 512,
        max_horizon: int = 64, scaling: str = "mean-std", synthetic_length: int = 1024, seed: int = 0,
        detrend_share: float = 0.0,
    ) -> None:
        if not 0.0 <= real_share <= 1.0:
            raise ConfigError(f"real_share must lie in [0, 1], got {real_share!r}")
        if not 0.0 <= detrend_share <= 1.0:
            raise ConfigError(f"detrend_share must lie in [0, 1], got {detrend_share!r}")
        self.detrend_share = detrend_share
        if not 2 <= min_length <= max_length:
            raise ConfigError(f"need 2 <= min_length <= max_length, got {min_length} and {max_length}")
        if max_horizon < 1:
            raise ConfigError(f"max_horizon must be >= 1, got {max_horizon!r}")
        self.real = [v for v in (as_series(s) for s in real) if np.isfinite(v).sum() >= 2]
        if real_share > 0 and not self.real:
            raise ConfigError("real_share > 0 needs at least one real series with two observed values")
        self.real_share = real_share if self.real else 0.0
        self.min_length, self.max_length, self.max_horizon = min_length, max_length, max_horizon
        self.scaling = check_scaling(scaling)
        self.synthetic_length = max(synthetic_length, max_length)
        self.seed = seed
        lengths = np.array([len(v) for v in self.real], dtype=np.float64)
        self._weights = lengths / lengths.sum() if self.real else np.array([])

    def _window(self, values: np.ndarray, rng: np.random.Generator) -> list[float]:
        length = int(rng.integers(min(self.min_length, len(values)), min(self.max_length, len(values)) + 1))
        start = int(rng.integers(0, len(values) - length + 1))
        window = values[start:start + length]
        future = int(rng.integers(1, min(self.max_horizon, max(length // 2, 1)) + 1))
        if self.detrend_share > 0 and rng.random() < self.detrend_share:
            window = window - trend_line(fit_trend(window[: length - future]), 0, length)
        scale = compute_scale(window[: length - future], self.scaling)
        return ((window - scale.loc) / scale.scale).tolist()

    def __iter__(self) -> Iterator[list[float]]:
        rng = np.random.default_rng([self.seed, 1])
        count = 0
        while True:
            if self.real and rng.random() < self.real_share:
                values = self.real[int(rng.choice(len(self.real), p=self._weights))]
            else:
                values = kernel_synth(1, self.synthetic_length, seed=self.seed * 1_000_003 + count)[0]
                count += 1
            yield self._window(values, rng)


def pretrain(
    pipe: Any, real: Sequence[Any] = (), *, steps: int = 2000, batch_size: int = 16, seq_len: int = 256,
    lr: float = 2e-3, real_share: float = 0.4, seed: int = 0, out_dir: str | None = None,
    checkpoint_every: int | None = None, progress: bool = True, resume_from: str | None = None,
    detrend_share: float = 0.0,
) -> Any:
    """Train ``pipe`` (a ``timeseries/mean-scale-bins`` pipeline) on :class:`TrainingWindows`; returns the ``TrainResult``.

    ``real`` are the real training series (histories only: never the held-out
    tails); ``detrend_share`` as in :class:`TrainingWindows`. One torch thread;
    windows up to ``seq_len - 1`` values plus ``eos`` fill rows whole
    (``overflow="truncate"``).
    """
    import arkit

    scaling = getattr(pipe.tokenizer, "scaling", "mean-std")
    data = TrainingWindows(real, real_share=real_share if len(real) else 0.0, max_length=seq_len - 1,
                           min_length=min(32, seq_len - 1), scaling=scaling, seed=seed,
                           detrend_share=detrend_share)
    config = arkit.TrainConfig(
        steps=steps, batch_size=batch_size, seq_len=seq_len, lr=lr, warmup_steps=min(100, max(steps // 10, 1)),
        overflow="truncate", shuffle=False, threads=1, seed=seed, progress=progress, out_dir=out_dir,
        checkpoint_every=checkpoint_every if out_dir else None, keep_checkpoints=2, resume_from=resume_from,
        log_every=10,
    )
    return pipe.fit(data, config)
