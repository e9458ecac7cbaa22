"""Token patterns for K codebooks per frame: flatten, delay (MusicGen / Parler-TTS) and parallel.

A clip is ``frames``: codebook values ``int[T, K]``. A pattern lays them out as *steps*,
each step being what one model call emits:

- ``flatten``: ``T * K`` steps of one token, frame-major (frame 0's K tokens, frame 1's...);
- ``parallel``: ``T`` steps of K tokens, step ``t`` = frame ``t``;
- ``delay``: ``T + K - 1`` steps of K tokens, codebook ``k`` shifted by ``k`` frames: step ``s``
  holds codebook ``k`` of frame ``s - k``, so when codebook ``k`` of a frame is drawn,
  codebooks ``< k`` of the same frame were drawn at earlier steps. Positions before a
  codebook starts hold ``fill``.

Values here are codebook values (``0 .. codebook_size - 1``); ``fill`` is any value outside
that range. :func:`interleave` and :func:`deinterleave` are exact inverses (tested with
hypothesis). :func:`min_calls` and :func:`calls_per_second` count model calls (per clip, per second of audio).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from arkit import ConfigError, InputError

__all__ = ["PATTERNS", "Pattern", "calls_per_second", "deinterleave", "interleave", "min_calls", "num_steps"]

Pattern = Literal["flatten", "delay", "parallel"]
PATTERNS: tuple[Pattern, ...] = ("flatten", "delay", "parallel")


def _check(pattern: str) -> None:
    if pattern not in PATTERNS:
        raise ConfigError(f"unknown token pattern {pattern!r}; use one of {', '.join(PATTERNS)}")


def num_steps(pattern: Pattern, frames: int, codebooks: int) -> int:
    """Steps (model calls after the prompt) a pattern needs for ``frames`` frames of ``codebooks`` tokens."""
    _check(pattern)
    if pattern == "flatten":
        return frames * codebooks
    if pattern == "parallel":
        return frames
    return frames + codebooks - 1 if frames else 0


def interleave(frames: np.ndarray, pattern: Pattern, fill: int = -1) -> list[list[int]]:
    """Frames ``[T, K]`` to the pattern's steps (lists of values; ``fill`` where a delayed codebook has none)."""
    _check(pattern)
    frames = np.asarray(frames)
    if frames.ndim != 2:
        raise InputError(f"frames must be [T, K], got shape {frames.shape}")
    T, K = frames.shape
    if pattern == "flatten":
        return [[int(v)] for v in frames.reshape(-1)]
    if pattern == "parallel":
        return [[int(v) for v in row] for row in frames]
    steps = np.full((num_steps("delay", T, K), K), fill, dtype=np.int64)
    for k in range(K):
        steps[k:k + T, k] = frames[:, k]
    return steps.tolist()


def deinterleave(steps: list[list[int]], pattern: Pattern, codebooks: int) -> np.ndarray:
    """Inverse of :func:`interleave`: the steps back to frames ``int64[T, K]``.

    Only whole frames come back: a flatten tail shorter than K is dropped, and a delay
    layout keeps the frames whose K codebooks are all present.
    """
    _check(pattern)
    if pattern == "flatten":
        flat = [int(s[0]) for s in steps]
        flat = flat[: len(flat) - len(flat) % codebooks]
        return np.asarray(flat, dtype=np.int64).reshape(-1, codebooks)
    if any(len(s) != codebooks for s in steps):
        raise InputError(f"every {pattern} step must hold {codebooks} tokens")
    arr = np.asarray(steps, dtype=np.int64).reshape(-1, codebooks)
    if pattern == "parallel":
        return arr
    T = max(0, len(arr) - codebooks + 1)
    return np.stack([arr[k:k + T, k] for k in range(codebooks)], axis=1) if T else np.zeros((0, codebooks), np.int64)


def min_calls(pattern: Pattern, frames: int, codebooks: int) -> int:
    """Model calls (the prefill included) that generating a clip of ``frames`` frames takes at least.

    - ``flatten``: ``T * K + 1``: the prefill predicts the first token, each later call one more, and one
      call predicts ``eos``;
    - ``delay``: ``T + K``: the prefill, block 0 (its K ``pad`` inputs), then blocks 1 .. ``T + K - 2``; the
      all-``eos`` block after them is determined, so it is not run (:class:`~arkit_speech.schedule.CodecSchedule`);
    - ``parallel``: ``T + 2``: the prefill, blocks 0 .. ``T - 1`` and the ``eos`` block ``T``.

    Delay over flatten is ``(T + K) / (T * K + 1)``: ``1 / K`` only as ``T`` grows; the ``K - 1`` steps
    that finish the delayed codebooks, the prefill and block 0 are each utterance's fixed cost.
    """
    if frames <= 0:
        raise InputError("a clip needs at least one frame")
    return num_steps(pattern, frames, codebooks) + (1 if pattern == "flatten" else 1 if pattern == "delay" else 2)


def calls_per_second(pattern: Pattern, frames: int, codebooks: int, frames_per_second: float) -> float:
    """Model calls per second of audio for one clip of ``frames`` frames (:func:`min_calls` over its seconds)."""
    if frames <= 0:
        raise InputError("calls per second needs at least one frame")
    return min_calls(pattern, frames, codebooks) / (frames / frames_per_second)
