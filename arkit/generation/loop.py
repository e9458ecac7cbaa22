"""The generation loop: prompts in, one token per row per step out.

Everything happens in :func:`decode`, top to bottom, commented like nanoGPT's
``generate``. It is a generator of per-step events, so ``Pipeline.stream`` and
``Pipeline.generate`` share it. Rows of different lengths are left-padded;
padding is hidden from attention by the mask and from positions by counting
only real tokens.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
import math
from typing import TYPE_CHECKING

import torch

from ..errors import GenerationError, InputError
from ..types import GenerationConfig, GenerationEvent

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["decode"]


def _make_generator(seed: int | None, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
    return generator


@torch.inference_mode()
def decode(
    pipe: Pipeline, prompts: Sequence[Sequence[int]], config: GenerationConfig
) -> Generator[tuple[GenerationEvent, float | None], None, int]:
    """Yield ``(event, logprob)`` for every generated token of every row, step by step.

    ``logprob`` is ``None`` unless ``config.output_logprobs`` is set. Each row's
    last event carries its ``finish_reason``. The generator returns the number of
    backbone calls it made.
    """
    backbone, head, sampler, cache = pipe.backbone, pipe.head, pipe.sampler, pipe.cache
    device = next(backbone.parameters()).device
    dtype = next(backbone.parameters()).dtype

    # 1. Check the prompts and work out how long each row may grow.
    if not prompts:
        raise InputError("no prompts given: pass at least one")
    lengths = [len(p) for p in prompts]
    for row, length in enumerate(lengths):
        if length == 0:
            raise InputError(f"prompt {row} is empty: give at least one token (a tokenizer with 'bos' adds one)")
    context = min(backbone.max_seq_len, config.max_length or backbone.max_seq_len)
    for row, length in enumerate(lengths):
        if length > context:
            raise InputError(
                f"prompt {row} has {length} tokens but the context is {context} "
                f"(model max_seq_len {backbone.max_seq_len}, max_length {config.max_length}): shorten it"
            )
    eos = set(config.eos_token_ids if config.eos_token_ids is not None else
              [t for n, t in pipe.tokenizer.special_tokens.items() if n == "eos"])
    pad = pipe.tokenizer.special_tokens.get("pad", 0)
    B, L = len(prompts), max(lengths)
    new_tokens = min(config.max_new_tokens, context - min(lengths))
    total = L + new_tokens  # slots the cache and the token buffer need

    # 2. Left-pad the prompts into one buffer; `real` marks slots holding real tokens.
    tokens = torch.full((B, total), pad, dtype=torch.long, device=device)
    real = torch.zeros((B, total), dtype=torch.bool, device=device)
    for row, prompt in enumerate(prompts):
        tokens[row, L - len(prompt):L] = torch.as_tensor(list(prompt), dtype=torch.long)
        real[row, L - len(prompt):L] = True
    if int(tokens[:, :L].max()) >= backbone.vocab_size or int(tokens[:, :L].min()) < 0:
        raise InputError(f"a prompt holds a token id outside the vocabulary [0, {backbone.vocab_size})")
    generator = _make_generator(config.seed, device)
    cache.allocate(backbone.cache_spec(), batch_size=B, max_len=total, dtype=dtype, device=device)

    # 3. Prefill: run all prompt tokens at once. A token attends to real tokens at or before its slot;
    #    positions count real tokens only, so padding does not shift them.
    positions = (real[:, :L].long().cumsum(-1) - 1).clamp(min=0)
    mask = None
    if min(lengths) != L:
        causal = torch.ones(L, L, dtype=torch.bool, device=device).tril()
        mask = causal[None] & real[:, None, :L]
    hidden = backbone(tokens[:, :L], positions=positions, cache=cache, attention_mask=mask)
    logits = head(hidden[:, -1])  # the last slot is real in every row (left padding)
    steps = 1

    finished = torch.zeros(B, dtype=torch.bool, device=device)
    produced = [0] * B
    next_pos = positions[:, -1] + 1
    for t in range(L, total):
        # 4. Turn logits into the sampler's distribution and pick one token per row.
        logits = logits.float()
        if torch.isnan(logits).any():
            raise GenerationError(
                f"the model produced NaN logits at step {t - L}; check the weights (a diverged training run?)"
            )
        scores = sampler.process(logits, tokens[:, :t])
        next_ids = sampler.select(scores, generator)
        logprobs = scores.log_softmax(-1).gather(-1, next_ids[:, None])[:, 0] if config.output_logprobs else None
        tokens[:, t] = torch.where(finished, pad, next_ids)
        real[:, t] = ~finished

        # 5. Report each live row's token and decide whether the row stops here.
        ids = next_ids.tolist()
        for row in range(B):
            if finished[row]:
                continue
            produced[row] += 1
            reason = None
            if ids[row] in eos:
                reason = "eos"
            elif produced[row] >= config.max_new_tokens:
                reason = "length"
            elif lengths[row] + produced[row] >= context:
                reason = "max_length"
            if reason is not None:
                finished[row] = True
            lp = None if logprobs is None else float(logprobs[row])
            if lp is not None and math.isinf(lp):
                raise GenerationError(f"row {row} sampled a token outside the sampler's support at step {t - L}")
            yield GenerationEvent(row=row, index=produced[row] - 1, token_id=ids[row], finish_reason=reason), lp
        if bool(finished.all()):
            break

        # 6. Decode one step: the new token attends to every real slot so far.
        mask = None if bool(real[:, : t + 1].all()) else real[:, None, : t + 1]
        hidden = backbone(tokens[:, t : t + 1], positions=next_pos[:, None], cache=cache, attention_mask=mask)
        logits = head(hidden[:, -1])
        next_pos = next_pos + 1
        steps += 1
    return steps
