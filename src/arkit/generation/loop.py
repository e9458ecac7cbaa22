"""The generation loop: prompts in, one token per row per step out.

Everything happens in :func:`decode`, top to bottom, commented like nanoGPT's
``generate``. It is a generator of per-token events, so ``Pipeline.stream`` and
``Pipeline.generate`` share it. Rows of different lengths are right-aligned in
one buffer (left padding); padding is hidden from attention by the mask and
from positions by counting only real tokens. Beam search lives in ``beam.py``.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
import time
from typing import TYPE_CHECKING, Any

import torch

from ..errors import ConstraintError, GenerationError
from ..types import FinishReason, GenerationConfig, GenerationEvent
from ._setup import make_generator, prefill_inputs, prepare

if TYPE_CHECKING:
    from ..pipeline import Pipeline
    from ..protocols import Constraint

__all__ = ["decode", "DecodeStats", "finish_reason"]


class DecodeStats:
    """Filled in by :func:`decode` as it runs: backbone calls and prefill time."""

    def __init__(self) -> None:
        self.steps = 0
        self.prefill_s = 0.0


def checked_allowed(constraint: Constraint, state: Any, vocab: int) -> torch.Tensor | list[int]:
    """``constraint.allowed(state)`` as a ``[vocab]`` mask or a list of ids, checked against the vocabulary.

    Raises :class:`ConstraintError` naming the id (or the mask's length) and the vocabulary
    when the constraint allows a token the model does not have.
    """
    allowed = constraint.allowed(state)
    name = type(constraint).__name__
    if isinstance(allowed, torch.Tensor):
        if allowed.dim() != 1 or allowed.shape[0] != vocab:
            raise ConstraintError(f"the constraint {name} returned an allowed-mask of shape {list(allowed.shape)}; "
                                  f"the model's vocabulary has {vocab} ids, so it must be a [{vocab}] mask")
        return allowed
    ids = list(allowed)
    if not ids:
        return ids
    try:
        tensor = torch.as_tensor(ids)
    except (TypeError, ValueError, RuntimeError):
        tensor = None
    if tensor is None or tensor.dim() != 1 or tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise ConstraintError(f"the constraint {name} allowed {ids[:5]!r}..., not token ids (ints)")
    outside = tensor[(tensor < 0) | (tensor >= vocab)]
    if outside.numel():
        raise ConstraintError(f"the constraint {name} allows token id {int(outside[0])}, outside the model's "
                              f"vocabulary [0, {vocab}): build the constraint for this model's tokenizer")
    return tensor.tolist()


def constraint_mask(
    constraint: Constraint, states: list[Any], live: list[bool], vocab: int, step: int, device: torch.device
) -> tuple[torch.Tensor, list[bool]]:
    """``BoolTensor[B, V]`` of allowed ids per live row, and which rows ended complete.

    A live row whose constraint allows nothing either ends (its state is complete)
    or is a dead end, which raises :class:`ConstraintError` naming row and position.
    """
    mask = torch.ones(len(states), vocab, dtype=torch.bool, device=device)
    ended = [False] * len(states)
    for row, state in enumerate(states):
        if not live[row]:
            continue
        allowed = checked_allowed(constraint, state, vocab)
        if isinstance(allowed, torch.Tensor):
            mask[row] = allowed.to(device=device, dtype=torch.bool)
            empty = not bool(mask[row].any())
        else:
            mask[row] = False
            if len(allowed):
                mask[row, allowed] = True
            empty = len(allowed) == 0
        if empty:
            if not constraint.complete(state):
                raise ConstraintError(
                    f"the constraint allows no token for row {row} at generated position {step}: "
                    f"its rule has a dead end there; fix the constraint or its start state"
                )
            ended[row] = True
    return mask, ended


@torch.inference_mode()
def decode(
    pipe: Pipeline,
    prompts: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    constraint: Constraint | None = None,
    negative_prompts: Sequence[Sequence[int]] | None = None,
    stats: DecodeStats | None = None,
    extra_inputs: Mapping[str, torch.Tensor] | None = None,
) -> Generator[tuple[GenerationEvent, float | None], None, None]:
    """Yield ``(event, logprob)`` for every generated token of every row, step by step.

    ``logprob`` is ``None`` unless ``config.output_logprobs`` is set. Each row's
    last event carries its ``finish_reason``. With ``config.guidance_scale != 1``
    every prompt gets an unconditional twin (``negative_prompts``, one per
    prompt) and the logits are mixed as ``uncond + scale * (cond - uncond)``.
    ``extra_inputs`` (checked by :func:`~arkit.generation._setup.extra_inputs`) go to
    every backbone call; the unconditional twins get zeros.
    """
    backbone, head, sampler, cache = pipe.backbone, pipe.head, pipe.sampler, pipe.cache
    stats = stats if stats is not None else DecodeStats()
    B = len(prompts)
    guided = config.guidance_scale != 1.0
    if guided:
        if negative_prompts is None or len(negative_prompts) != B:
            raise GenerationError("classifier-free guidance needs one negative (unconditional) prompt per prompt")
        prompts = [*prompts, *negative_prompts]  # rows B..2B-1 are the unconditional twins
    extras = twin_inputs(extra_inputs, guided)

    # 1. Lay the prompts out, right-aligned, in one buffer with room for the new tokens.
    prep = prepare(pipe, prompts, config)
    history, L, total, eos = prep.history, prep.prompt_width, prep.total, prep.eos
    rows = history.shape[0]
    generator = make_generator(config.seed, prep.device)
    cache.allocate(backbone.cache_spec(), batch_size=rows, max_len=total, dtype=prep.dtype, device=prep.device)
    stops = [list(s) for s in config.stop_sequences]
    eos_list = sorted(eos)

    # 2. Prefill: all prompt tokens in one forward pass; keep the logits of each row's last token.
    start = time.perf_counter()
    ids, positions, mask = prefill_inputs(history, L)
    logits = head(backbone(ids, positions=positions, cache=cache, attention_mask=mask, **extras)[:, -1])
    stats.steps, stats.prefill_s = 1, time.perf_counter() - start
    next_positions = positions[:, -1] + 1
    padded = min(prep.lengths) < L

    states = [constraint.start() for _ in range(B)] if constraint is not None else []
    live = [True] * B
    produced = [0] * B
    for t in range(L, total):
        # 3. Logits -> the sampler's distribution: guidance, constraints, min length, then processors.
        logits = logits.float()
        if torch.isnan(logits).any():
            raise GenerationError(
                f"the model produced NaN logits at generated position {t - L}; check the weights "
                f"(a diverged training run?)"
            )
        if guided:
            logits = guide(logits, config.guidance_scale)
        if constraint is not None:
            allowed, _ = constraint_mask(constraint, states, live, logits.shape[-1], t - L, logits.device)
            logits = logits.masked_fill(~allowed, float("-inf"))
        if eos_list and config.min_new_tokens and min(produced) < config.min_new_tokens:
            early = torch.tensor([p < config.min_new_tokens for p in produced], device=logits.device)
            logits[early[:, None] & _one_hot(eos_list, logits.shape[-1], logits.device)] = float("-inf")
        scores = sampler.process(logits, history[:B, :t])
        next_ids = sampler.select(scores, generator)
        logprobs = scores.log_softmax(-1).gather(-1, next_ids[:, None])[:, 0] if config.output_logprobs else None

        # 4. Record each live row's token, then decide whether the row stops here.
        chosen = next_ids.tolist()
        everyone = all(live)
        if everyone:  # one write for the whole batch; rows that finished keep their placeholder
            history[:B, t] = next_ids
        for row in range(B):
            if not live[row]:
                continue
            token = chosen[row]
            if constraint is not None and not bool(torch.isfinite(scores[row, token])):
                raise GenerationError(f"the sampler chose token {token} outside its support for row {row}")
            if not everyone:
                history[row, t] = token
            produced[row] += 1
            reason = finish_reason(token, history[row, :t + 1] if stops else (), produced[row], prep.lengths[row],
                                   config, eos, stops, prep.context)
            if constraint is not None and reason is None:
                states[row] = constraint.advance(states[row], token)
                if constraint_done(constraint, states[row]):
                    reason = "constraint"
            if reason is not None:
                live[row] = False
            lp = None if logprobs is None else float(logprobs[row])
            yield GenerationEvent(row=row, index=produced[row] - 1, token_id=token, finish_reason=reason), lp
        if not any(live):
            break
        if guided:
            history[B:, t] = history[:B, t]  # the unconditional twins follow the same tokens

        # 5. Decode one step: feed each row's new token; it attends to every real slot so far.
        #    Rows that finished feed a masked placeholder until the whole batch is done.
        mask = None
        if padded or not all(live):  # otherwise every slot is real and no mask is needed
            real = history[:, getattr(cache, "offset", 0) : t + 1] >= 0  # slots the cache still holds
            mask = None if bool(real.all()) else real[:, None, :]
        step_ids = history[:, t : t + 1].clamp(min=0)
        logits = head(backbone(step_ids, positions=next_positions[:, None], cache=cache, attention_mask=mask,
                               **extras)[:, -1])
        next_positions = next_positions + 1
        stats.steps += 1


def twin_inputs(extra_inputs: Mapping[str, torch.Tensor] | None, guided: bool) -> dict[str, torch.Tensor]:
    """Extra inputs for every row of a pass: with guidance, the unconditional twins get zeros (no condition)."""
    return {name: torch.cat([value, torch.zeros_like(value)]) if guided else value
            for name, value in (extra_inputs or {}).items()}


def guide(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance over stacked rows: the first half conditional, the second their
    unconditional twins; returns ``uncond + scale * (cond - uncond)`` for the first half."""
    B = logits.shape[0] // 2
    cond, uncond = logits[:B].float(), logits[B:].float()
    return uncond + scale * (cond - uncond)


def finish_reason(
    token: int, row: torch.Tensor | list[int], produced: int, prompt_length: int, config: GenerationConfig,
    eos: frozenset[int], stops: list[list[int]], context: int,
) -> FinishReason | None:
    """Why a row stops after emitting ``token`` (``row``: its tokens so far, ending with it), or ``None``."""
    if token in eos:
        return "eos"
    if stops and any(_ends_with(row, s) for s in stops):
        return "stop_sequence"
    if produced >= config.max_new_tokens:
        return "length"
    if prompt_length + produced >= context:
        return "max_length"
    return None


def _ends_with(row: torch.Tensor | list[int], stop: list[int]) -> bool:
    n = len(stop)
    if len(row) < n:
        return False
    tail = row[-n:]
    return (tail.tolist() if isinstance(tail, torch.Tensor) else list(tail)) == stop


def constraint_done(constraint: Constraint, state: Any) -> bool:
    """A complete state from which nothing more is allowed ends the row."""
    if not constraint.complete(state):
        return False
    allowed = constraint.allowed(state)
    return not bool(allowed.any()) if isinstance(allowed, torch.Tensor) else len(allowed) == 0


def _one_hot(ids: list[int], vocab: int, device: torch.device) -> torch.Tensor:
    hot = torch.zeros(1, vocab, dtype=torch.bool, device=device)
    hot[0, ids] = True
    return hot
