"""Voice check: nearest-centroid speaker classification on MFCC statistics.

Features of a clip (at the codec's 8 kHz): 30 MFCCs (25 ms windows, 10 ms hop, 40 mel
bands up to 4 kHz, scipy's DCT) over the frames louder than 1 % of the clip's peak
energy; the clip is summarised by their mean and standard deviation and the standard
deviation of their frame-to-frame differences (90 numbers). On codec2-1200 resynthesis
of the demo's four voices, 30 MFCCs scored 0.83 where 13 MFCCs from 26 bands scored 0.69.
:class:`SpeakerClassifier` standardises the features with the training set's statistics,
projects them onto the directions that separate the voices best (linear discriminant
analysis, the within-voice scatter shrunk 10 % towards its mean variance: few clips, many
features), and assigns a clip to the voice whose centroid is nearest there.

Leave-one-out on 100 training clips (25 per voice, codec2 resynthesis): 0.74 with the mean
and standard deviation alone and no projection (the classifier before), 0.84 with the
projection, 0.87 with the differences too. The errors left were ``en`` against ``en-us``,
which share a timbre and differ in accent only; more clips teach the projection the accent:
on 400 other corpus clips, 0.85 fitted on 25 per voice and 0.95 on 200 (what the eval fits).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from arkit import InputError

from .audio import Audio, resample

__all__ = ["SpeakerClassifier", "mfcc", "voice_features"]

_RATE = 8000


def _mel_filters(n_fft: int, bands: int, rate: int) -> np.ndarray:
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(np.array(0.0)), mel(np.array(rate / 2)), bands + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / rate)
    out = np.zeros((bands, len(bins)))
    for b in range(bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        out[b] = np.clip(np.minimum((bins - lo) / (mid - lo), (hi - bins) / (hi - mid)), 0.0, None)
    return out


_FILTERS = _mel_filters(256, 40, _RATE)
_N_MFCC = 30


def mfcc(audio: Audio, n_mfcc: int = _N_MFCC) -> tuple[np.ndarray, np.ndarray]:
    """MFCCs ``[frames, n_mfcc]`` of ``audio`` (brought to 8 kHz) and each frame's log energy."""
    from scipy.fft import dct

    x = resample(audio, _RATE).samples.astype(np.float64)
    win, hop = 200, 80
    if len(x) < win:
        x = np.pad(x, (0, win - len(x)))
    n = 1 + (len(x) - win) // hop
    frames = np.stack([x[i * hop:i * hop + win] for i in range(n)]) * np.hamming(win)
    power = np.abs(np.fft.rfft(frames, 256)) ** 2
    energy = np.log(power.sum(axis=1) + 1e-10)
    logmel = np.log(power @ _FILTERS.T + 1e-10)
    return dct(logmel, type=2, norm="ortho", axis=1)[:, :n_mfcc], energy


def voice_features(audio: Audio) -> np.ndarray:
    """Mean and standard deviation of the MFCCs of the loud frames, and the standard deviation of their
    frame-to-frame differences: a 90-number summary of the voice."""
    coeffs, energy = mfcc(audio)
    loud = energy > energy.max() + np.log(0.01)
    coeffs = coeffs[loud] if loud.sum() >= 3 else coeffs
    steps = np.diff(coeffs, axis=0) if len(coeffs) >= 2 else np.zeros((1, coeffs.shape[1]))
    return np.concatenate([coeffs.mean(axis=0), coeffs.std(axis=0), steps.std(axis=0)])


_FEATURES = 3 * _N_MFCC
_SHRINK = 0.1  # of the within-voice scatter, towards its mean variance


class SpeakerClassifier:
    """Nearest centroid over standardised :func:`voice_features`, projected by linear discriminant analysis."""

    def __init__(self) -> None:
        self.voices: list[str] = []
        self._mean, self._std = np.zeros(_FEATURES), np.ones(_FEATURES)
        self._projection = np.eye(_FEATURES)
        self._centroids = np.zeros((0, _FEATURES))

    def fit(self, clips: Sequence[Audio], voices: Sequence[str]) -> SpeakerClassifier:
        """Learn the projection and one centroid per voice from labelled clips."""
        if len(clips) != len(voices) or not clips:
            raise InputError(f"give one voice label per clip (got {len(clips)} clips, {len(voices)} labels)")
        self.voices = sorted(set(voices))
        if len(self.voices) < 2:
            raise InputError(f"fit the speaker classifier on clips of at least two voices, got {self.voices}")
        feats = np.stack([voice_features(c) for c in clips])
        self._mean, self._std = feats.mean(axis=0), feats.std(axis=0) + 1e-8
        z = (feats - self._mean) / self._std
        labels = np.array(voices)
        means = np.stack([z[labels == v].mean(axis=0) for v in self.voices])
        within = sum(np.cov(z[labels == v].T, bias=True) * (labels == v).sum() for v in self.voices) / len(z)
        within = (1 - _SHRINK) * within + _SHRINK * np.eye(len(within)) * np.trace(within) / len(within)
        between = np.cov(means.T, bias=True)
        values, vectors = np.linalg.eig(np.linalg.solve(within, between))
        self._projection = vectors[:, np.argsort(-values.real)[: len(self.voices) - 1]].real
        self._centroids = means @ self._projection
        return self

    def predict(self, clips: Sequence[Audio]) -> list[str]:
        """The nearest voice of each clip."""
        if not self.voices:
            raise InputError("SpeakerClassifier.predict before fit: fit it on labelled clips first")
        z = (np.stack([voice_features(c) for c in clips]) - self._mean) / self._std @ self._projection
        d = ((z[:, None, :] - self._centroids[None]) ** 2).sum(-1)
        return [self.voices[i] for i in d.argmin(axis=1)]
