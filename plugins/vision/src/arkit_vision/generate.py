"""Class-conditional image generation (raster and next-scale) and held-out bits per pixel.

The prompt of a class-conditional image is ``[bos, class]``; its unconditional twin for
classifier-free guidance is ``[bos, null]``. Only content ids (pixel levels or codes) may be
sampled: the sampler is a chain that bans every other id, then samples.
"""

from __future__ import annotations

from collections.abc import Sequence
import time
from typing import Any

import attrs
import numpy as np
import torch
import torch.nn.functional as F

import arkit

from .image import Image

__all__ = ["Samples", "content_sampler", "image_bits", "sample_next_scale", "sample_raster"]


@attrs.frozen(kw_only=True)
class Samples:
    """Generated images with what they cost."""

    images: tuple[Image, ...]
    model_calls: float
    """Mean forward passes of the target model per image (raster: one per token; next-scale: one per scale)."""
    elapsed_s: float
    speculative: dict[str, int] | None = None
    """With a drafter: ``drafted``, ``accepted`` and ``target_calls`` summed over the generate calls."""


def _content(tokenizer: Any) -> int:
    return int(tokenizer.vocab_size - len(tokenizer.special_tokens) - getattr(tokenizer, "num_classes", 0))


def content_sampler(tokenizer: Any, *, temperature: float = 1.0, top_k: int | None = None,
                    top_p: float = 1.0) -> Any:
    """A ``core/chain`` sampler: ban class and special ids, then sample with ``temperature`` (0: greedy),
    restricted to the ``top_k`` most likely ids and the ``top_p`` nucleus (``core/multinomial``)."""
    banned = [[i] for i in range(_content(tokenizer), tokenizer.vocab_size)]
    return arkit.create("sampler", "core/chain", steps=[
        {"name": "core/bad-tokens", "config": {"sequences": banned}},
        {"name": "core/multinomial", "config": {"temperature": temperature, "top_k": top_k, "top_p": top_p}},
    ])


def _prompts(tokenizer: Any, labels: Sequence[int | None]) -> tuple[list[list[int]], list[list[int]]]:
    bos = tokenizer.special_tokens["bos"]
    prompts = [[bos, *tokenizer.encode(label)] for label in labels]
    negative = [[bos, tokenizer.special_tokens["null"]] for _ in labels]
    return prompts, negative


def _check_labels(tokenizer: Any, labels: Sequence[int | None]) -> None:
    if not getattr(tokenizer, "num_classes", 0):
        raise arkit.ConfigError("class-conditional generation needs a tokenizer with num_classes > 0")
    for label in labels:
        tokenizer.encode(label)  # raises arkit.InputError for labels out of range


def sample_raster(pipe: arkit.Pipeline, labels: Sequence[int | None], *, guidance_scale: float = 1.0,
                  temperature: float = 1.0, top_k: int | None = None, top_p: float = 1.0, seed: int = 0,
                  batch_size: int = 64, num_draft_tokens: int = 4, draft_schedule: str | None = None) -> Samples:
    """One image per label, token by token in raster order (``None``: unconditional); ``temperature``,
    ``top_k`` and ``top_p`` as in :func:`content_sampler`. With a drafter, ``draft_schedule``
    (``GenerationConfig.draft_schedule``; ``None``: the engine's default) decides how many of the
    ``num_draft_tokens`` each target call verifies; ``"constant"`` always drafts all of them."""
    tokenizer = pipe.tokenizer
    _check_labels(tokenizer, labels)
    pipe = pipe.replace(sampler=content_sampler(tokenizer, temperature=temperature, top_k=top_k, top_p=top_p))
    n = int(getattr(tokenizer, "num_content_tokens"))
    images: list[Image] = []
    calls, start = 0, time.perf_counter()
    spec: dict[str, int] | None = None
    for lo in range(0, len(labels), batch_size):
        chunk = list(labels[lo:lo + batch_size])
        prompts, negative = _prompts(tokenizer, chunk)
        guided = guidance_scale != 1.0
        out = pipe.generate(prompt_ids=prompts, negative_prompt_ids=negative if guided else None,
                            max_new_tokens=n, eos_token_ids=(), seed=seed + lo, guidance_scale=guidance_scale,
                            num_draft_tokens=num_draft_tokens,
                            **({} if draft_schedule is None else {"draft_schedule": draft_schedule}))
        images += [attrs.evolve(tokenizer.decode(seq), label=label) for seq, label in zip(out.sequences, chunk)]
        if out.speculative is not None:
            s = out.speculative
            spec = spec or {"drafted": 0, "accepted": 0, "target_calls": 0}
            spec = {"drafted": spec["drafted"] + s.drafted, "accepted": spec["accepted"] + s.accepted,
                    "target_calls": spec["target_calls"] + s.row_calls + len(chunk)}  # + the prefill of each row
            calls += s.row_calls + len(chunk)
        else:
            calls += out.num_steps * len(chunk)
    return Samples(images=tuple(images), model_calls=calls / max(1, len(labels)),
                   elapsed_s=time.perf_counter() - start, speculative=spec)


def sample_next_scale(pipe: arkit.Pipeline, labels: Sequence[int | None], schedule: arkit.NextScaleSchedule, *,
                      guidance_scale: float = 1.0, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float = 1.0, seed: int = 0, batch_size: int = 64) -> Samples:
    """One image per label, a whole token map per model call (VAR); the tokenizer (``vision/msvq``) decodes the maps.
    ``temperature``, ``top_k`` and ``top_p`` as in :func:`content_sampler`."""
    tokenizer = pipe.tokenizer
    _check_labels(tokenizer, labels)
    pipe = pipe.replace(sampler=content_sampler(tokenizer, temperature=temperature, top_k=top_k, top_p=top_p))
    images: list[Image] = []
    calls, start = 0, time.perf_counter()
    for lo in range(0, len(labels), batch_size):
        chunk = list(labels[lo:lo + batch_size])
        prompts, negative = _prompts(tokenizer, chunk)
        config = arkit.GenerationConfig(seed=seed + lo, guidance_scale=guidance_scale)
        maps, calls = arkit.generate_next_scale(pipe, prompts, schedule, config,
                                                negative_prompts=negative if guidance_scale != 1.0 else None)
        images += [attrs.evolve(image, label=label) for image, label in zip(tokenizer.decode_batch(maps), chunk)]
    return Samples(images=tuple(images), model_calls=float(calls), elapsed_s=time.perf_counter() - start)


@torch.inference_mode()
def image_bits(pipe: arkit.Pipeline, images: Sequence[Image], *, batch_size: int = 128) -> float:
    """Mean bits per content token of labelled ``images`` under the model, given ``[bos, class]``."""
    tokenizer, backbone, head = pipe.tokenizer, pipe.backbone, pipe.head
    backbone.eval(), head.eval()
    bos = tokenizer.special_tokens["bos"]
    total, count = 0.0, 0
    for lo in range(0, len(images), batch_size):
        rows = torch.tensor([[bos, *tokenizer.encode(im)] for im in images[lo:lo + batch_size]])
        positions = torch.arange(rows.shape[1]).expand_as(rows)
        logits = head(backbone(rows[:, :-1], positions=positions[:, :-1])).float()
        nll = F.cross_entropy(logits[:, 1:].reshape(-1, logits.shape[-1]), rows[:, 2:].reshape(-1), reduction="sum")
        total += float(nll)
        count += rows[:, 2:].numel()
    return total / count / float(np.log(2.0))
