"""Block schedules for the ``delay`` and ``parallel`` patterns: all K codebooks of a step in one model call.

A row's prompt is ``[bos] [voice] prompt codes [text] phonemes [audio]`` (from
:class:`~arkit_speech.tts.TTSTokenizer`). Block ``k`` holds K tokens, position ``j`` from
codebook ``j``'s id range; its inputs are block ``k - 1``'s tokens (block 0's are K ``pad``
ids), so position ``j`` sees the previous step of every codebook and, through the block's
two-way attention, the rest of its own inputs.

End of audio: with ``delay``, codebook 0 emits ``eos`` instead of frame ``T``, codebook ``j``
``j`` steps later; generation ends with block ``T + K - 2``, which holds the last code
(codebook ``K - 1`` of frame ``T - 1``): the all-``eos`` block after it is fully determined,
so it costs no model call and is no training target either. A delay row thus takes the prefill, block 0
(its K ``pad`` inputs) and ``T + K - 2`` more blocks: ``T + K`` calls, against flatten's
``T * K + 1`` (see :func:`arkit_speech.patterns.min_calls`). With ``parallel`` a block
holding any ``eos`` ends the row (training targets put ``eos`` at every position). Positions
before a delayed codebook starts emit ``pad``. :meth:`CodecSchedule.allowed` enforces all of
this, so every generated row decodes to whole frames.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

import arkit
from arkit import ConfigError

from .patterns import deinterleave, interleave
from .tts import TTSTokenizer

__all__ = ["CodecSchedule"]


class CodecSchedule(arkit.BlockSchedule):
    """``pattern`` ``"delay"`` or ``"parallel"`` over a :class:`TTSTokenizer`'s codec ids."""

    def __init__(self, tokenizer: TTSTokenizer, pattern: str = "delay", max_frames: int = 100) -> None:
        if pattern not in ("delay", "parallel"):
            raise ConfigError(f"CodecSchedule pattern must be 'delay' or 'parallel' (flatten is plain "
                              f"next-token generation), got {pattern!r}")
        self.tokenizer, self.pattern, self.max_frames = tokenizer, pattern, int(max_frames)
        self.K, self.size = tokenizer.num_codebooks, tokenizer.codebook_size
        self.pad, self.eos = tokenizer.special_tokens["pad"], tokenizer.special_tokens["eos"]
        self._shift = 1 if pattern == "delay" else 0

    # -- training targets --------------------------------------------------------------
    def blocks(self, frames: np.ndarray) -> list[list[int]]:
        """Frames ``[T, K]`` to target blocks (ids), with the end-of-audio blocks appended: the blocks generation
        runs, ``T + K - 1`` with ``delay`` and ``T + 1`` with ``parallel``."""
        steps = interleave(frames, "delay" if self._shift else "parallel", fill=-1)
        T = len(frames)
        offset = self.tokenizer.audio_offset
        out = []
        for s, step in enumerate(steps):
            out.append([self.pad if v < 0 else offset + j * self.size + v for j, v in enumerate(step)])
        # codebook j ends at step T + j * shift: eos there and after. Parallel ends with an all-eos block (the
        # model's signal to stop); delay's would follow block T + K - 2 and is determined, so it is no target
        for s in range(T, T + self._shift * (self.K - 1) + (0 if self._shift else 1)):
            if s < len(out):
                out[s] = [self.eos if s - j * self._shift >= T else t for j, t in enumerate(out[s])]
            else:
                out.append([self.eos] * self.K)
        return out

    def frames(self, blocks: Sequence[Sequence[int]]) -> np.ndarray:
        """Generated blocks back to whole frames ``[T, K]`` (what :meth:`blocks` inverts); stops at ``eos``."""
        offset = self.tokenizer.audio_offset
        steps = []
        for block in blocks:
            if len(block) != self.K or (not self._shift and self.eos in block):
                break
            steps.append([(t - offset) % self.size if offset <= t < offset + self.K * self.size else -1
                          for t in block])
        if self._shift:
            frames = deinterleave(steps, "delay", self.K) if len(steps) >= self.K else np.zeros((0, self.K), np.int64)
        else:
            frames = deinterleave(steps, "parallel", self.K) if steps else np.zeros((0, self.K), np.int64)
        ok = (frames >= 0).all(axis=1)
        T = int(np.argmin(ok)) if not ok.all() else len(frames)
        return frames[:T]

    # -- the BlockSchedule hooks ------------------------------------------------------
    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        if k == 0:
            return [self.pad] * self.K
        last = list(blocks[k - 1])
        if (all if self._shift else any)(t == self.eos for t in last):
            return None
        if self._shift:  # delay: once codebook 0 ended at block T, block T + K - 2 holds the last code (codebook
            ended = self._ended(blocks)  # K - 1 of frame T - 1); the all-eos block after it would be a wasted call
            if ended is not None and k > ended + (self.K - 1) * self._shift - 1:
                return None
        return last

    def _ended(self, blocks: Sequence[Sequence[int]]) -> int | None:
        """The block at which codebook 0 emitted ``eos`` (the row's frame count ``T``), if it has."""
        return next((s for s, b in enumerate(blocks) if b and b[0] == self.eos), None)

    def allowed(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]], n: int) -> torch.Tensor:
        V = self.tokenizer.vocab_size
        mask = torch.zeros(n, V, dtype=torch.bool)
        offset = self.tokenizer.audio_offset
        ended = self._ended(blocks)  # T, once known
        frames_so_far = k  # codebook 0's frame index at this block
        for j in range(n):
            frame = k - j * self._shift
            if frame < 0:
                mask[j, self.pad] = True
            elif ended is not None and frame >= ended:
                mask[j, self.eos] = True
            elif j == 0 and frames_so_far >= self.max_frames:
                mask[j, self.eos] = True
            else:
                mask[j, offset + j * self.size: offset + j * self.size + self.tokenizer.field_sizes[j]] = True
                if k >= 1 and (j == 0 or not self._shift):
                    mask[j, self.eos] = True
        return mask
