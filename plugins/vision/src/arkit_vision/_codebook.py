"""A VQ codebook learned by exponential moving averages, with dead-code restarts (private)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class _Codebook(nn.Module):
    """``size`` vectors of ``dim``; all state is buffers (saved with the tokenizer, never touched by optimisers)."""

    def __init__(self, size: int, dim: int, *, decay: float = 0.9, eps: float = 1e-5) -> None:
        super().__init__()
        self.size, self.dim, self.decay, self.eps = size, dim, decay, eps
        self.register_buffer("embed", torch.randn(size, dim) * 0.1)
        self.register_buffer("cluster_size", torch.ones(size))
        self.register_buffer("embed_sum", self.embed.clone())

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Ids of the closest entries (squared Euclidean) for ``z [N, dim]``; ties go to the lower id."""
        d = (z * z).sum(1, keepdim=True) - 2.0 * z @ self.embed.T + (self.embed * self.embed).sum(1)[None]
        return d.argmin(1)

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        return F.embedding(ids, self.embed)

    @torch.no_grad()
    def initialise(self, z: torch.Tensor, generator: torch.Generator) -> None:
        """Entries drawn from the vectors ``z [N, dim]`` (with replacement when N < size)."""
        pick = torch.randint(0, z.shape[0], (self.size,), generator=generator)
        self.embed.copy_(z[pick])
        self.embed_sum.copy_(z[pick])
        self.cluster_size.fill_(1.0)

    @torch.no_grad()
    def update(self, z: torch.Tensor, ids: torch.Tensor) -> None:
        """One EMA step towards the mean of the vectors assigned to each entry."""
        onehot = F.one_hot(ids, self.size).to(z.dtype)
        self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(onehot.T @ z, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n
        self.embed.copy_(self.embed_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(self, z: torch.Tensor, threshold: float, generator: torch.Generator) -> int:
        """Move entries whose EMA count fell below ``threshold`` onto random vectors of ``z``; how many moved."""
        dead = (self.cluster_size < threshold).nonzero().flatten()
        if dead.numel():
            pick = torch.randint(0, z.shape[0], (dead.numel(),), generator=generator)
            self.embed[dead] = z[pick]
            self.embed_sum[dead] = z[pick]
            self.cluster_size[dead] = 1.0
        return int(dead.numel())
