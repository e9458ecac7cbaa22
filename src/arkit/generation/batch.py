"""Rows in one buffer: slots, guidance twins, prefill and step inputs, attention masks.

Rows of different lengths are right-aligned in one ``[rows, slots]`` buffer of
token ids (left padding). ``-1`` marks a slot that holds no real token: padding
before a prompt, a finished row's placeholder, or (in speculative decoding) a
hole left by a rejected draft. Padding is hidden from attention by the mask and
from positions by counting only real tokens. With classifier-free guidance the
unconditional twins are rows ``B .. 2B-1`` of every pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import attrs
import torch

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from .request import Request

__all__ = ["Batch", "compact", "decode_positions", "layout", "make_generator", "prefill_inputs", "step_mask", "twin",
           "twin_inputs"]


@attrs.define
class Batch:
    """Left-padded rows (the prompts, then any guidance twins) in a buffer with room for the new tokens."""

    history: torch.Tensor
    """``LongTensor[rows, total]``: token ids per slot, ``-1`` where a slot holds no real token."""
    lengths: list[int]
    """Prompt length per row."""
    width: int
    """``L``: the longest prompt; generated tokens start at slot ``L``."""
    total: int
    """Slots in the buffer (and in the cache)."""
    device: torch.device
    dtype: torch.dtype

    @property
    def padded(self) -> bool:
        """Whether some prompt is shorter than the longest (so some slot before ``L`` is padding)."""
        return min(self.lengths) < self.width


def layout(pipe: Pipeline, request: Request, *, new_tokens: int | None = None, extra: int = 0) -> Batch:
    """Lay ``request.rows`` out, right-aligned, with room for ``new_tokens`` (default: ``max_new_tokens``)
    within the context, plus ``extra`` slots (speculative drafts need them)."""
    parameter = next(iter(pipe.backbone.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    dtype = parameter.dtype if parameter is not None else torch.float32
    rows = request.rows
    lengths = [len(p) for p in rows]
    L = max(lengths)
    new = request.config.max_new_tokens if new_tokens is None else new_tokens
    total = L + min(new, request.context - min(lengths)) + extra
    history = torch.full((len(rows), total), -1, dtype=torch.long)
    for row, prompt in enumerate(rows):
        history[row, L - len(prompt) : L] = torch.as_tensor(prompt, dtype=torch.long)
    return Batch(history.to(device), lengths, L, total, device, dtype)


def make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    """The generation's random stream: seeded with ``seed``, or with a fresh seed drawn from torch's global one."""
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
    return generator


def prefill_inputs(history: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Ids, positions and mask for the first forward pass over the left-padded prompts.

    Positions count real tokens only, so padding does not shift them; a token
    attends to real tokens at or before its slot. The mask is ``None`` when no row is padded.
    """
    prompt = history[:, :width]
    real = prompt >= 0
    positions = (real.long().cumsum(-1) - 1).clamp(min=0)
    mask = None
    if not bool(real.all()):
        causal = torch.ones(width, width, dtype=torch.bool, device=history.device).tril()
        mask = causal[None] & real[:, None, :]
    return prompt.clamp(min=0), positions, mask


def decode_positions(batch: Batch, request: Request) -> tuple[torch.Tensor, int]:
    """Every row's position at every one-token step, ``LongTensor[total - L, rows, 1]`` (``[i]`` feeds slot
    ``L + i``), and the largest position in it.

    A row counts on from its prompt's last position while it is going; it goes for at most
    ``min(max_new_tokens, context - prompt length)`` tokens, its unconditional twin as long as it.
    Once the row has stopped it feeds a masked placeholder whose position stays at the last
    one it fed, so a row stopped by ``max_length`` never steps past the context.
    """
    B, config = request.batch, request.config
    limits = [min(config.max_new_tokens, request.context - n) for n in batch.lengths[:B]]
    # the last position fed while going: the token before the row's last one (which stops it and is never fed)
    last = [max(n - 1, n + limits[row % B] - 2) for row, n in enumerate(batch.lengths)]
    first = torch.tensor(batch.lengths, dtype=torch.long, device=batch.device)  # the first new token's position
    steps = torch.arange(batch.total - batch.width, device=batch.device)[:, None]
    positions = torch.minimum(first + steps, torch.tensor(last, dtype=torch.long, device=batch.device))
    return positions[:, :, None], max(last)


def step_mask(history: torch.Tensor, start: int, end: int) -> torch.Tensor | None:
    """``BoolTensor[rows, 1, end - start]``: which slots ``start .. end-1`` a one-token step attends to,
    or ``None`` when every one of them holds a real token."""
    real = history[:, start:end] >= 0
    return None if bool(real.all()) else real[:, None, :]


def twin(x: torch.Tensor, guided: bool) -> torch.Tensor:
    """Per-row values for every row of a pass: under guidance the twins copy their rows'."""
    return torch.cat([x, x], 0) if guided else x


def twin_inputs(extra_inputs: Mapping[str, torch.Tensor] | None, guided: bool) -> dict[str, torch.Tensor]:
    """Extra inputs for every row of a pass: with guidance, the unconditional twins get zeros (no condition)."""
    return {name: torch.cat([value, torch.zeros_like(value)]) if guided else value
            for name, value in (extra_inputs or {}).items()}


def compact(slots: torch.Tensor, holes: bool) -> torch.Tensor:
    """Each row's real tokens, right-aligned, ``-1`` before: what drafters and processors read."""
    if not holes:
        return slots
    order = torch.sort((slots >= 0).to(torch.int8), dim=1, stable=True).indices  # holes first, tokens in order
    return slots.gather(1, order)
