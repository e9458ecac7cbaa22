"""A continuous head: a mixture of diagonal Gaussians over a real vector. Registered as ``core/gaussian-mixture``.

For continuous tokens (values, patches, latents): ``forward`` returns a
``torch.distributions.MixtureSameFamily`` of batch shape ``[B, T]`` and event shape
``[dim]``; train it with ``-distribution.log_prob(target)``, sample it with
:func:`arkit.generate_continuous` (seeded, with temperature). ``vocab_size`` is 0:
the head has no vocabulary. ``params`` and ``distribution`` split ``forward`` in
two, so the projection exports to ONNX and the distribution is rebuilt outside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
import torch.nn.functional as F
from torch.distributions import Independent, MixtureSameFamily, Normal, Categorical

from ..errors import ConfigError, InputError

__all__ = ["GaussianMixtureHead"]


class GaussianMixtureHead(nn.Module):
    """Mixture weights, means and standard deviations of ``components`` Gaussians over ``dim`` values."""

    vocab_size = 0

    def __init__(self, *, d_model: int = 256, dim: int = 1, components: int = 4, min_std: float = 1e-3,
                 init_std: float = 0.02) -> None:
        super().__init__()
        for key, value in (("d_model", d_model), ("dim", dim), ("components", components)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"gaussian-mixture {key} must be a positive integer, got {value!r}")
        if not min_std > 0:
            raise ConfigError(f"min_std must be > 0, got {min_std!r}")
        self.d_model, self.dim, self.components, self.min_std = d_model, dim, components, float(min_std)
        self._config = dict(d_model=d_model, dim=dim, components=components, min_std=float(min_std),
                            init_std=float(init_std))
        # per component: one mixture logit, `dim` means and `dim` raw scales
        self.proj = nn.Linear(d_model, components * (1 + 2 * dim))
        nn.init.normal_(self.proj.weight, std=init_std)
        nn.init.zeros_(self.proj.bias)

    @property
    def config(self) -> Mapping[str, Any]:
        return dict(self._config)

    def forward(self, hidden: torch.Tensor) -> MixtureSameFamily:
        return self.distribution(self.params(hidden))

    def params(self, hidden: torch.Tensor) -> torch.Tensor:
        """The raw parameters ``[..., components * (1 + 2 * dim)]``: the part that runs in an exported graph."""
        if hidden.shape[-1] != self.d_model:
            raise InputError(f"hidden states must end in d_model={self.d_model}, got shape {tuple(hidden.shape)}")
        return self.proj(hidden).float()

    def distribution(self, params: torch.Tensor) -> MixtureSameFamily:
        """The mixture that :meth:`params` describes (no weights involved)."""
        K, D = self.components, self.dim
        logits = params[..., :K]
        means = params[..., K : K + K * D].unflatten(-1, (K, D))
        stds = F.softplus(params[..., K + K * D :].unflatten(-1, (K, D))) + self.min_std
        return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(means, stds), 1))
