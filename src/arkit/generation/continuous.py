"""Autoregressive generation of real vectors with a continuous head.

The backbone takes ``FloatTensor[B, T, F]`` inputs (``core/transformer`` with
``input_dim=F``); the head returns a mixture distribution per position. Each step
samples one vector per row with a seeded generator, feeds it back through the
cache, and goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch.distributions import MixtureSameFamily

from ..errors import ConfigError, GenerationError, InputError
from ..types import GenerationConfig
from .batch import make_generator
from .request import refuse_options

__all__ = ["generate_continuous", "sample_mixture"]


def sample_mixture(dist: MixtureSameFamily, generator: torch.Generator | None, temperature: float = 1.0) -> torch.Tensor:
    """One draw per batch element, using only ``generator``; ``temperature`` sharpens both the
    choice of component (``logits / t``) and its spread (``std * sqrt(t)``); 0 gives the mean of
    the most likely component."""
    logits = dist.mixture_distribution.logits  # [..., K]
    normal = dist.component_distribution.base_dist  # loc, scale: [..., K, D]
    if temperature == 0.0:
        k = logits.argmax(-1)
    else:
        probs = (logits / temperature).softmax(-1)
        k = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator).view(probs.shape[:-1])
    index = k[..., None, None].expand(*k.shape, 1, normal.loc.shape[-1])
    loc = normal.loc.gather(-2, index).squeeze(-2)
    if temperature == 0.0:
        return loc
    scale = normal.scale.gather(-2, index).squeeze(-2) * temperature**0.5
    noise = torch.randn(loc.shape, generator=generator, device=loc.device, dtype=loc.dtype)
    return loc + scale * noise


@torch.inference_mode()
def generate_continuous(
    backbone: Any, head: Any, context: torch.Tensor, steps: int, *, cache: Any = None,
    temperature: float = 1.0, seed: int | None = None, extra_inputs: Mapping[str, torch.Tensor] | None = None,
    config: GenerationConfig | None = None,
) -> torch.Tensor:
    """Continue each row of ``context`` (``FloatTensor[B, T, F]``) by ``steps`` sampled vectors: ``[B, steps, F]``.

    ``extra_inputs`` (one row per context row) are passed to every backbone call. ``config``
    (optional) may carry the ``seed`` (instead of ``seed=``); its other options have no meaning
    for real vectors and raise :class:`arkit.ConfigError` when set.
    """
    from ..registry import create

    if config is not None:
        if not isinstance(config, GenerationConfig):
            raise ConfigError(f"config must be an arkit.GenerationConfig, got {type(config).__name__}")
        refuse_options(config, "continuous generation", ("seed",))
        if config.seed is not None:
            if seed is not None and seed != config.seed:
                raise ConfigError(f"seed={seed} and config.seed={config.seed} disagree: give one of them")
            seed = config.seed

    if context.dim() != 3 or not context.is_floating_point():
        raise InputError(f"context must be a float tensor [batch, time, features], got {tuple(context.shape)}")
    if context.shape[1] == 0:
        raise InputError("context is empty: give at least one step")
    if steps < 0 or temperature < 0:
        raise ConfigError(f"steps and temperature must be >= 0, got steps={steps}, temperature={temperature}")
    B, T, _ = context.shape
    if T + steps > backbone.max_seq_len:
        raise InputError(f"context ({T}) + steps ({steps}) exceeds the backbone's max_seq_len ({backbone.max_seq_len})")
    cache = cache if cache is not None else create("cache", "core/dynamic")
    parameter = next(backbone.parameters())
    cache.allocate(backbone.cache_spec(), batch_size=B, max_len=T + steps, dtype=parameter.dtype,
                   device=parameter.device)
    generator = make_generator(seed, parameter.device)
    positions = torch.arange(T, device=context.device).expand(B, -1)
    extras = dict(extra_inputs or {})
    dist = head(backbone(context.to(parameter.dtype), positions=positions, cache=cache, **extras)[:, -1:])
    samples = []
    for step in range(steps):
        value = sample_mixture(dist, generator, temperature)  # [B, 1, F]
        if not bool(torch.isfinite(value).all()):
            raise GenerationError(f"the head produced a non-finite sample at step {step}; check the weights")
        samples.append(value)
        if step + 1 < steps:
            position = torch.full((B, 1), T + step, device=context.device)
            dist = head(backbone(value.to(parameter.dtype), positions=position, cache=cache, **extras))
    if not samples:
        return context.new_zeros(B, 0, context.shape[-1])
    return torch.cat(samples, dim=1)
