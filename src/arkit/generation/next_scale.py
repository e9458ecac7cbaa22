"""Next-scale prediction (VAR): a whole token map per step, coarse to fine.

A square token map is generated scale by scale: scale ``k`` is a ``side_k x side_k``
map, all of its tokens predicted in one forward pass. The inputs of scale ``k`` are
the tokens of scale ``k - 1`` upsampled (nearest neighbour) to ``side_k x side_k``;
the first scale (1 x 1) is predicted from the prompt's last position (a class or
start token). Attention is block-causal: a position sees the prompt, every earlier
scale and its own scale. For sides ``(1, 2, 4, 8)`` an 8 x 8 map takes 4 model calls
instead of 64.

The same layout trains the model: :meth:`NextScaleSchedule.training_example` turns
prompts and token maps into inputs, targets and the block-causal mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch

from ..errors import ConfigError, GenerationError, InputError
from .batch import layout, make_generator, prefill_inputs, twin_inputs
from .request import build_request, refuse_options
from .scoring import Scoring

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..types import GenerationConfig

__all__ = ["NextScaleSchedule", "generate_next_scale"]


def _sides(value: Sequence[int]) -> tuple[int, ...]:
    sides = tuple(int(s) for s in value)
    if not sides or sides[0] != 1 or any(b <= a for a, b in zip(sides, sides[1:])):
        raise ConfigError(f"scale sides must start at 1 and grow strictly, like (1, 2, 4, 8); got {value!r}")
    return sides


@attrs.frozen
class NextScaleSchedule:
    """The coarse-to-fine order over a ``sides[-1] x sides[-1]`` token map."""

    sides: tuple[int, ...] = attrs.field(converter=_sides)

    @property
    def num_tokens(self) -> int:
        """Tokens over all scales (what the map costs in sequence length)."""
        return sum(s * s for s in self.sides)

    @property
    def input_length(self) -> int:
        """Positions after the prompt: the upsampled inputs of scales 1 and up."""
        return self.num_tokens - 1

    def upsample(self, tokens: torch.Tensor, side: int) -> torch.Tensor:
        """Nearest-neighbour upsampling of ``LongTensor[B, s, s]`` maps to ``[B, side, side]``."""
        s = tokens.shape[-1]
        index = torch.arange(side, device=tokens.device) * s // side
        return tokens[:, index][:, :, index]

    def inputs(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """``LongTensor[B, input_length]``: scale ``k``'s inputs for ``k >= 1``, row-major, from ``maps[k - 1]``."""
        blocks = [self.upsample(maps[k - 1], self.sides[k]).flatten(1) for k in range(1, len(self.sides))]
        return torch.cat(blocks, dim=1) if blocks else torch.zeros(maps[0].shape[0], 0, dtype=torch.long)

    def block_ids(self, prompt_length: int) -> torch.Tensor:
        """Block of each position: ``0`` for the prompt (whose last position predicts scale 0), ``k`` for scale ``k``'s inputs."""
        ids = [torch.zeros(prompt_length, dtype=torch.long)]
        ids += [torch.full((s * s,), k, dtype=torch.long) for k, s in enumerate(self.sides) if k > 0]
        return torch.cat(ids)

    def attention_mask(self, prompt_length: int) -> torch.Tensor:
        """``BoolTensor[S, S]``: causal inside the prompt, block-causal over scales."""
        block = self.block_ids(prompt_length)
        S = block.shape[0]
        causal = torch.ones(S, S, dtype=torch.bool).tril()
        same_or_earlier = block[None, :] <= block[:, None]
        scale_query = (block > 0)[:, None]
        return torch.where(scale_query, same_or_earlier, causal)

    def training_example(
        self, prompts: torch.Tensor, maps: Sequence[torch.Tensor], ignore_index: int = -100
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs, targets, positions and mask for teacher-forced training on full maps.

        ``prompts``: ``LongTensor[B, P]``; ``maps[k]``: ``LongTensor[B, side_k, side_k]``.
        Returns ``input_ids [B, S]``, ``targets [B, S]`` (``ignore_index`` where a
        position predicts nothing), ``positions [B, S]`` and ``mask [B, S, S]``.
        """
        if len(maps) != len(self.sides):
            raise InputError(f"expected {len(self.sides)} token maps (one per scale), got {len(maps)}")
        for k, (m, side) in enumerate(zip(maps, self.sides)):
            if m.dim() != 3 or m.shape[1:] != (side, side):
                raise InputError(f"map {k} must have shape [batch, {side}, {side}], got {list(m.shape)}")
        B, P = prompts.shape
        input_ids = torch.cat([prompts, self.inputs(maps)], dim=1)
        targets = torch.full_like(input_ids, ignore_index)
        targets[:, P - 1] = maps[0].flatten(1)[:, 0]
        offset = P
        for m, side in zip(maps[1:], self.sides[1:]):
            targets[:, offset : offset + side * side] = m.flatten(1)
            offset += side * side
        positions = torch.arange(input_ids.shape[1]).expand(B, -1)
        return input_ids, targets, positions, self.attention_mask(P).expand(B, -1, -1)


@torch.inference_mode()
def generate_next_scale(
    pipe: Pipeline, prompts: Sequence[Sequence[int]], schedule: NextScaleSchedule, config: GenerationConfig,
    *, negative_prompts: Sequence[Sequence[int]] | None = None, extra_inputs: Mapping[str, Any] | None = None,
) -> tuple[list[torch.Tensor], int]:
    """Token maps per scale (``LongTensor[B, side, side]`` each) and the number of model calls.

    Every scale is one forward pass through the cache; the sampler picks each
    position's token from that position's logits. With ``config.guidance_scale != 1``
    every prompt has an unconditional twin in ``negative_prompts``. ``extra_inputs``
    (one row per prompt, as for :meth:`arkit.Pipeline.generate`) go to every call;
    the unconditional twins get zeros.
    """
    backbone, head, cache = pipe.backbone, pipe.head, pipe.cache
    B = len(prompts)
    if config.guidance_scale != 1.0 and (negative_prompts is None or len(negative_prompts) != B):
        raise GenerationError("classifier-free guidance needs one negative (unconditional) prompt per prompt")
    refuse_options(config, "next-scale generation", ("seed", "guidance_scale", "max_length"))
    request = build_request(pipe, prompt_ids=prompts, config=config, extra_inputs=extra_inputs,
                            negative_prompt_ids=negative_prompts if config.guidance_scale != 1.0 else None)
    guided, rows = request.guided, len(request.rows)
    prep = layout(pipe, request, new_tokens=schedule.input_length)
    L = prep.width
    if prep.total - L < schedule.input_length:
        raise InputError(f"the map needs {schedule.input_length} positions after the prompt, but the context has "
                         f"room for {prep.total - L}: use a backbone with a longer max_seq_len")
    extras = twin_inputs(request.extra_inputs, guided)
    scoring = Scoring(sampler=pipe.sampler, guidance_scale=config.guidance_scale)
    generator = make_generator(config.seed, prep.device)
    cache.allocate(backbone.cache_spec(), batch_size=rows, max_len=L + schedule.input_length, dtype=prep.dtype,
                   device=prep.device)

    def pick(logits: torch.Tensor, step: int) -> torch.Tensor:
        """One token per position: logits ``[rows, n, V]`` -> ids ``[B, n]`` (scoring.py, then the sampler)."""
        scores = scoring(logits, prep.history[:B, :L], step=step)
        n, V = scores.shape[1], scores.shape[2]
        return pipe.sampler.select(scores.reshape(B * n, V), generator).view(B, n)

    # Scale 0: the prompt's last position predicts the 1 x 1 map.
    ids, positions, mask = prefill_inputs(prep.history, L)
    maps = [pick(head(backbone(ids, positions=positions, cache=cache, attention_mask=mask, **extras)[:, -1:]), 0)
            .view(B, 1, 1)]
    calls = 1
    real = prep.history[:, :L] >= 0
    next_position = positions[:, -1:] + 1
    for side in schedule.sides[1:]:
        # Scale k: inputs are scale k-1 upsampled; the block sees everything before it and itself.
        block = schedule.upsample(maps[-1], side).flatten(1)  # [B, side * side]
        if guided:
            block = torch.cat([block, block])
        n = side * side
        visible = torch.cat([real, torch.ones(rows, n, dtype=torch.bool, device=real.device)], dim=1)
        step_mask = visible[:, None, :].expand(rows, n, visible.shape[1])
        hidden = backbone(block, positions=next_position + torch.arange(n, device=block.device), cache=cache,
                          attention_mask=step_mask, **extras)
        maps.append(pick(head(hidden), calls).view(B, side, side))
        real, next_position, calls = visible, next_position + n, calls + 1
    return maps, calls
