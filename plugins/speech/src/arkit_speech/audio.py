"""A waveform with its sample rate, and the resampling every component uses."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
import warnings

import numpy as np

from arkit import ArkitWarning, InputError

__all__ = ["Audio", "as_audio", "resample"]


@dataclass(frozen=True, eq=False)
class Audio:
    """Mono float32 samples in [-1, 1] at ``rate`` Hz. Two clips are equal when rate and samples are."""

    samples: np.ndarray
    rate: int

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Audio):
            return NotImplemented
        return self.rate == other.rate and np.array_equal(self.samples, other.samples)

    __hash__ = None  # type: ignore[assignment]

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate

    def to_int16(self) -> np.ndarray:
        """Samples as int16 PCM (clipped)."""
        return np.clip(np.round(self.samples * 32767.0), -32768, 32767).astype(np.int16)

    @classmethod
    def from_int16(cls, pcm: np.ndarray, rate: int) -> Audio:
        """Wrap int16 PCM samples."""
        return cls(np.asarray(pcm, dtype=np.float32) / 32768.0, int(rate))


def resample(audio: Audio, rate: int) -> Audio:
    """``audio`` at ``rate`` Hz (polyphase filtering, scipy); the same object when the rate already matches."""
    if audio.rate == rate:
        return audio
    from scipy.signal import resample_poly

    ratio = Fraction(rate, audio.rate)
    out = resample_poly(audio.samples.astype(np.float64), ratio.numerator, ratio.denominator)
    return Audio(np.clip(out, -1.0, 1.0).astype(np.float32), rate)


def as_audio(item: object, rate: int, *, what: str = "audio") -> Audio:
    """Check ``item`` is an :class:`Audio` of finite mono samples and bring it to ``rate`` Hz.

    A different rate is resampled with an :class:`arkit.ArkitWarning` saying so; anything
    else that is not mono finite audio raises :class:`arkit.InputError`.
    """
    if not isinstance(item, Audio):
        raise InputError(f"{what} must be an arkit_speech.Audio(samples, rate), got {type(item).__name__}")
    samples = np.asarray(item.samples)
    if samples.ndim != 1:
        raise InputError(f"{what} must be mono (1-D samples), got shape {samples.shape}")
    if samples.size == 0:
        raise InputError(f"{what} is empty: give at least one frame of samples")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"{what} holds NaN or infinite samples")
    if item.rate <= 0:
        raise InputError(f"{what} has sample rate {item.rate}: it must be positive")
    if item.rate != rate:
        warnings.warn(f"{what} at {item.rate} Hz resampled to {rate} Hz", ArkitWarning, stacklevel=3)
        return resample(Audio(samples.astype(np.float32), item.rate), rate)
    return Audio(samples.astype(np.float32), rate)
