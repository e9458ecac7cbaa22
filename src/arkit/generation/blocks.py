"""Block-wise generation: a variable number of positions per model call, decided as it goes.

:class:`~arkit.NextScaleSchedule` covers square token maps that grow by upsampling.
Many domains emit other blocks in one step: an octree level (one token per child of
every occupied node), a frame of K codec tokens (the delay pattern), a block of graph
nodes. A :class:`BlockSchedule` says, for one row, what the inputs of the next block
are, given the blocks generated so far; the model predicts every token of that block
in one forward pass, one token per input position. Attention is block-causal: a block
sees the prompt, every earlier block and all of itself.

Rows of a batch may have blocks of different sizes and may finish at different
blocks; shorter blocks are padded, and padding is hidden from attention.

The same schedule trains the model: :meth:`arkit.Pipeline.fit` with
``schedule=MySchedule()`` and ``(prompt, blocks)`` items rebuilds each block's inputs
with :meth:`BlockSchedule.block_inputs` and learns every block at once
(see :meth:`BlockSchedule.training_example`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs
import torch

from ..errors import ConfigError, InputError
from ..protocols import EvictingCache
from .batch import layout, make_generator, prefill_inputs, twin_inputs
from .request import build_request, refuse_options
from .run import _ready
from .scoring import Scoring

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..types import GenerationConfig

__all__ = ["BlockOutput", "BlockSchedule", "generate_blocks"]

BlockFinish = Literal["complete", "max_blocks", "max_length"]


class BlockSchedule:
    """How a row's blocks follow each other. Subclass it and implement :meth:`block_inputs`.

    A schedule is a plain object (no weights); pass the same one to
    :meth:`arkit.Pipeline.fit` and :func:`arkit.generate_blocks`.
    """

    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> Sequence[int] | None:
        """Input ids of block ``k`` for one row, from its prompt ids and its blocks ``0 .. k-1``.

        The model predicts block ``k``'s tokens at these positions, one token per input.
        For ``k == 0`` an empty list means block 0 is a single token predicted at the
        prompt's last position. ``None`` (for ``k >= 1``) ends the row. An empty block
        for ``k >= 1`` is an error: return ``None`` instead.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement block_inputs(k, prompt, blocks)")

    def allowed(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]], n: int) -> torch.Tensor | None:
        """Optional: ``BoolTensor[n, V]``, the ids allowed at each of block ``k``'s ``n`` positions.

        ``None`` (the default) allows every id. Use it for per-position vocabularies
        (codebook ``j`` at position ``j`` of a frame) or structural rules.
        """
        return None

    def training_example(
        self, prompt: Sequence[int], blocks: Sequence[Sequence[int]], ignore_index: int = -100
    ) -> tuple[list[int], list[int], list[int]]:
        """Inputs, targets and block ids of one row for teacher-forced training.

        ``prompt``: the row's prompt ids; ``blocks[k]``: block ``k``'s target tokens.
        The row is the prompt followed by every block's inputs; each input position's
        target is its block's token at the same place (``ignore_index`` elsewhere). Block
        ids give each prompt position a block of its own (causal) and each block one id
        (seen both ways), as the generation loop attends.
        """
        prompt = [int(t) for t in prompt]
        if not prompt:
            raise InputError("a block-wise training item needs a non-empty prompt (a tokenizer with 'bos' adds one)")
        if not blocks:
            raise InputError("a block-wise training item needs at least one block")
        inputs, targets = list(prompt), [ignore_index] * len(prompt)
        block_ids = list(range(len(prompt)))
        for k, block in enumerate(blocks):
            block = [int(t) for t in block]
            given = _checked_inputs(self, k, prompt, blocks[:k])
            if given is None:
                raise InputError(f"block_inputs({k}, ...) returned None, but the item has {len(blocks)} blocks: "
                                 f"the schedule ends the row after block {k - 1}")
            if k == 0 and not given:
                if len(block) != 1:
                    raise InputError(f"block 0 has {len(block)} tokens but block_inputs(0, ...) is empty, which "
                                     f"means one token predicted at the prompt's last position")
                targets[-1] = block[0]
                continue
            if len(given) != len(block):
                raise InputError(f"block {k} has {len(block)} tokens but block_inputs({k}, ...) gives {len(given)} "
                                 f"inputs: they must match one for one")
            inputs += given
            targets += block
            block_ids += [len(prompt) + k] * len(given)
        return inputs, targets, block_ids


def _checked_inputs(schedule: BlockSchedule, k: int, prompt: Sequence[int],
                    blocks: Sequence[Sequence[int]]) -> list[int] | None:
    given = schedule.block_inputs(k, prompt, blocks)
    if given is None:
        if k == 0:
            raise ConfigError(f"{type(schedule).__name__}.block_inputs(0, ...) returned None: block 0 always exists "
                              f"(return [] to predict it at the prompt's last position)")
        return None
    try:
        ids = [int(t) for t in given]
    except (TypeError, ValueError):
        raise ConfigError(f"{type(schedule).__name__}.block_inputs({k}, ...) must return token ids or None, "
                          f"got {given!r}") from None
    if k > 0 and not ids:
        raise ConfigError(f"{type(schedule).__name__}.block_inputs({k}, ...) returned an empty block: "
                          f"return None to end the row")
    return ids


@attrs.frozen(kw_only=True)
class BlockOutput:
    """What :func:`arkit.generate_blocks` returns. Rows follow the order of the prompts."""

    blocks: tuple[tuple[tuple[int, ...], ...], ...]
    """Per row, its generated blocks (token ids), block 0 first."""
    finish_reasons: tuple[BlockFinish, ...]
    """``"complete"``: the schedule ended the row; ``"max_blocks"``: the block limit;
    ``"max_length"``: the next block would not fit the model's context."""
    calls: int
    """Model calls made, prefill included (every block of every row costs at most one)."""


@torch.inference_mode()
def generate_blocks(
    pipe: Pipeline,
    schedule: BlockSchedule,
    prompts: Any = None,
    *,
    prompt_ids: Sequence[Sequence[int]] | None = None,
    config: GenerationConfig | None = None,
    negative_prompts: Any = None,
    negative_prompt_ids: Sequence[Sequence[int]] | None = None,
    extra_inputs: Mapping[str, Any] | None = None,
    max_blocks: int = 64,
    **overrides: Any,
) -> BlockOutput:
    """Generate each row block by block, every block in one model call.

    - ``prompts`` (items, encoded like :meth:`arkit.Pipeline.generate` does, ``bos`` first)
      or ``prompt_ids`` (token ids per row), as in :meth:`arkit.Pipeline.fit`'s items.
    - ``config`` / ``overrides``: a :class:`arkit.GenerationConfig` or its fields
      (``seed``, ``guidance_scale``); lengths come from the schedule, bounded by
      ``max_blocks`` and the model's context.
    - ``negative_prompts`` / ``negative_prompt_ids``: the unconditional prompts for
      classifier-free guidance (default: ``bos`` alone); the twins are fed the same blocks.
    - ``extra_inputs``: the backbone's extra inputs, one row per prompt.

    Each position's token is drawn by the pipeline's sampler from that position's logits,
    after guidance and :meth:`BlockSchedule.allowed`.
    """
    if not isinstance(schedule, BlockSchedule):
        raise ConfigError(f"schedule must be an arkit.BlockSchedule (subclass it), got {type(schedule).__name__}")
    if not isinstance(max_blocks, int) or isinstance(max_blocks, bool) or max_blocks < 1:
        raise ConfigError(f"max_blocks must be an integer >= 1, got {max_blocks!r}")
    request = build_request(pipe, prompts, prompt_ids=prompt_ids, config=config, negative_prompts=negative_prompts,
                            negative_prompt_ids=negative_prompt_ids, extra_inputs=extra_inputs, **overrides)
    refuse_options(request.config, "block-wise generation", ("seed", "guidance_scale", "max_length"))
    config, ids, B, guided = request.config, [list(p) for p in request.prompts], request.batch, request.guided
    _ready(pipe)
    backbone, head, sampler, cache = pipe.backbone, pipe.head, pipe.sampler, pipe.cache
    prep = layout(pipe, request, new_tokens=0)
    extras = twin_inputs(request.extra_inputs, guided)
    L, rows, device = prep.width, len(request.rows), prep.device
    context = request.context
    generator = make_generator(config.seed, device)
    if isinstance(cache, EvictingCache):
        raise ConfigError(f"block-wise generation needs a cache that keeps every position (core/dynamic or "
                          f"core/static), not {type(cache).__name__}, which evicts")
    slots = L + context  # cache slots: real positions (at most the context) plus the padding of short blocks
    cache.allocate(backbone.cache_spec(), batch_size=rows, max_len=slots, dtype=prep.dtype, device=device)
    scoring = Scoring(sampler=sampler, guidance_scale=config.guidance_scale)

    def scores_of(logits: torch.Tensor, masks: list[torch.Tensor | None], k: int) -> torch.Tensor:
        """Logits ``[rows, n, V]`` -> the sampler's scores ``[B, n, V]`` (scoring.py), with each row's allowed ids."""
        n, V = logits.shape[1], logits.shape[2]
        allowed = None
        for row, mask in enumerate(masks):
            if mask is None:
                continue
            if mask.dtype != torch.bool or mask.dim() != 2 or mask.shape[1] != V or mask.shape[0] > n:
                raise ConfigError(f"{type(schedule).__name__}.allowed must return a BoolTensor[n, {V}] (n: the "
                                  f"block's size), got {mask.dtype} {list(mask.shape)}")
            if not bool(mask.any(-1).all()):
                raise ConfigError(f"{type(schedule).__name__}.allowed leaves no id at some position of row {row}")
            if allowed is None:
                allowed = torch.ones(B, n, V, dtype=torch.bool, device=logits.device)
            allowed[row, : mask.shape[0]] = mask.to(logits.device)
        return scoring(logits, prep.history[:B, :L], allowed=allowed, step=k)

    def draw(scores: torch.Tensor) -> torch.Tensor:
        B_, n, V = scores.shape
        return sampler.select(scores.reshape(B_ * n, V), generator).view(B_, n)

    # 1. Prefill: the prompts in one pass. Its last position predicts block 0 where block 0 has no inputs.
    prompt_lists = [list(p) for p in ids]
    ids_in, positions, mask = prefill_inputs(prep.history, L)
    hidden = backbone(ids_in, positions=positions, cache=cache, attention_mask=mask, **extras)
    calls = 1
    real = prep.history[:, :L] >= 0  # which cache slots hold real tokens
    next_position = positions[:, -1] + 1  # [rows]
    blocks: list[list[list[int]]] = [[] for _ in range(B)]
    live = [True] * B
    reasons: list[BlockFinish] = ["max_blocks"] * B

    first = [_checked_inputs(schedule, 0, prompt_lists[r], []) for r in range(B)]
    single = [r for r in range(B) if not first[r]]
    if single:
        masks = [schedule.allowed(0, prompt_lists[r], [], 1) if not first[r] else None for r in range(B)]
        tokens = draw(scores_of(head(hidden[:, -1:]), masks, 0))
        for r in single:
            blocks[r].append([int(tokens[r, 0])])
    pending = {r: first[r] for r in range(B) if first[r]}  # rows whose block 0 has inputs
    k = 0 if pending else 1
    while any(live):
        # 2. Each live row's inputs for block k (block 0 only for rows that gave inputs for it).
        if k > 0:
            pending = {}
            for r in range(B):
                if not live[r]:
                    continue
                if len(blocks[r]) >= max_blocks:
                    live[r] = False
                    continue
                given = _checked_inputs(schedule, k, prompt_lists[r], blocks[r])
                if given is None:
                    live[r], reasons[r] = False, "complete"
                    continue
                if int(next_position[r]) + len(given) > context:
                    live[r], reasons[r] = False, "max_length"
                    continue
                pending[r] = given
        if not pending:
            break
        # 3. One call for the whole block: padded to the longest row, padding hidden from every query.
        n = max(len(v) for v in pending.values())
        if real.shape[1] + n > slots:  # padding used up the cache's room: end what is left
            for r in pending:
                live[r], reasons[r] = False, "max_length"
            break
        block = torch.full((rows, n), -1, dtype=torch.long, device=device)
        for r, given in pending.items():
            block[r, : len(given)] = torch.tensor(given, dtype=torch.long, device=device)
        if guided:
            block[B:] = block[:B]  # the unconditional twins are fed the same blocks
        for r, given in pending.items():
            bad = [t for t in given if not 0 <= t < backbone.vocab_size]
            if bad:
                raise ConfigError(f"{type(schedule).__name__}.block_inputs({k}, ...) gave id {bad[0]} for row {r}, "
                                  f"outside the vocabulary [0, {backbone.vocab_size})")
        visible = torch.cat([real, block >= 0], dim=1)
        step_mask = visible[:, None, :].expand(rows, n, visible.shape[1])
        step_positions = (next_position[:, None] + torch.arange(n, device=device)).clamp(max=backbone.max_seq_len - 1)
        hidden = backbone(block.clamp(min=0), positions=step_positions, cache=cache, attention_mask=step_mask,
                          **extras)
        calls += 1
        masks = [schedule.allowed(k, prompt_lists[r], blocks[r], len(pending[r])) if r in pending else None
                 for r in range(B)]
        tokens = draw(scores_of(head(hidden), masks, k)).tolist()
        # 4. Keep each row's real positions; the next block starts after them.
        for r, given in pending.items():
            blocks[r].append([int(t) for t in tokens[r][: len(given)]])
        lengths = (block >= 0).sum(-1)
        next_position = next_position + lengths
        real = visible
        k += 1
    return BlockOutput(
        blocks=tuple(tuple(tuple(b) for b in row) for row in blocks),
        finish_reasons=tuple(reasons),
        calls=calls,
    )
