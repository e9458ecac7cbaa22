"""LANTERN relaxed acceptance (Jang et al. 2024) for image tokens: lossy within a bound, opt-in. Registered as ``core/lantern``.

Image models spread probability over many interchangeable tokens (codebook
entries that decode to nearly the same patch), so exact acceptance turns down
drafts the target would have been happy with. LANTERN lets a draft token ``d``
claim the target's probability of its *latent neighbours* (the nearest codebook
entries to ``d``), with a budget ``delta`` on how much probability may move.

At each draft position, with the target's distribution ``q``:

1. walk ``d``'s neighbours from the closest; take each while the target
   probability taken so far stays ``<= delta`` (stop at the first that does not fit);
2. the relaxed distribution ``q_d`` moves that mass onto ``d``:
   ``q_d(d) = q(d) + sum of the taken q(x)``, ``q_d(x) = 0`` for taken ``x``, else ``q``.
   It differs from ``q`` by at most ``delta`` in total variation;
3. keep ``d`` with probability ``q_d(d)``; at a rejection the target's token is
   drawn from ``q_d`` without ``d``, renormalised; after a fully kept draft, from ``q``.

Given the draft token, the emitted token is distributed as ``q_d`` exactly (the
exact rule for a deterministic draft, run against ``q_d``), so per position the
output is within total variation ``delta`` of the target, whatever the drafter;
``delta = 0`` is lossless. By default the drafter's ``probs`` are not used.
``ratio_test=True`` is the paper's rule for sampled drafts: keep ``d`` with
probability ``min(1, q_d(d) / p(d))`` and at a rejection draw from
``max(0, q_d - p)`` renormalised. It accepts at least as often as ``core/exact``
(``q_d(d) >= q(d)``), where the default can accept less than ``core/exact`` on
sampled drafts. But ``q_d`` depends on the draft token, so mixed over ``d ~ p``
the output can drift further than ``delta`` from ``q``: measure the quality
change. Deterministic drafts (no ``probs``) get the default rule either way. A
draft token the target rules out (``q(d) = 0``: a constraint, top-k) is never
relaxed, so constraints hold.

The neighbourhoods come from ``neighbours`` (``neighbours[t]``: the ids close to
``t``, closest first) or :meth:`LanternAcceptance.from_embeddings` (the ``k``
nearest rows of a codebook or embedding matrix).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import ConfigError, GenerationError
from ..types import Draft
from ._common import at, draft_lengths, draw, kept_prefix

__all__ = ["LanternAcceptance"]


class LanternAcceptance:
    """Accept draft tokens against the target's probability pooled over their latent neighbourhood (TV <= delta)."""

    lossless = False

    def __init__(self, *, neighbours: Sequence[Sequence[int]], delta: float = 0.1, ratio_test: bool = False) -> None:
        if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 <= delta < 1:
            raise ConfigError(f"lantern delta must be a number in [0, 1), got {delta!r}")
        if not isinstance(ratio_test, bool):
            raise ConfigError(f"lantern ratio_test must be true or false, got {ratio_test!r}")
        self.ratio_test = ratio_test
        if isinstance(neighbours, (str, bytes)) or not isinstance(neighbours, Sequence) or not len(neighbours):
            raise ConfigError("lantern neighbours must be a non-empty list with one list of token ids per token")
        V = len(neighbours)
        rows = []
        for t, row in enumerate(neighbours):
            if isinstance(row, (str, bytes)) or not isinstance(row, Sequence):
                raise ConfigError(f"lantern neighbours[{t}] must be a list of token ids, got {row!r}")
            ids = []
            for x in row:
                if not isinstance(x, int) or isinstance(x, bool) or not 0 <= x < V:
                    raise ConfigError(f"lantern neighbours[{t}] holds {x!r}, not a token id in [0, {V})")
                if x != t and x not in ids:
                    ids.append(x)
            rows.append(ids)
        self.delta, self.vocab_size = float(delta), V
        self._neighbours = rows
        width = max(1, max(len(r) for r in rows))
        self._table = torch.tensor([r + [-1] * (width - len(r)) for r in rows], dtype=torch.long)  # [V, K], -1 pads

    @classmethod
    def from_embeddings(cls, embeddings: torch.Tensor, k: int = 8, *, delta: float = 0.1,
                        metric: str = "cosine", ratio_test: bool = False) -> LanternAcceptance:
        """Neighbourhoods of the ``k`` nearest rows of ``embeddings [V, D]`` (a VQ codebook, an embedding table)."""
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() != 2 or embeddings.shape[0] < 2:
            raise ConfigError("lantern embeddings must be a [V, D] tensor with V >= 2")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k < embeddings.shape[0]:
            raise ConfigError(f"lantern k must be an integer in [1, {embeddings.shape[0] - 1}], got {k!r}")
        if metric not in ("cosine", "l2"):
            raise ConfigError(f"lantern metric must be 'cosine' or 'l2', got {metric!r}")
        e = embeddings.detach().float()
        if metric == "cosine":
            e = torch.nn.functional.normalize(e, dim=-1)
            distance = -(e @ e.T)
        else:
            distance = torch.cdist(e, e)
        distance.fill_diagonal_(float("inf"))
        nearest = distance.topk(k, dim=-1, largest=False).indices
        return cls(neighbours=nearest.tolist(), delta=delta, ratio_test=ratio_test)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"neighbours": [list(r) for r in self._neighbours], "delta": self.delta, "ratio_test": self.ratio_test}

    def relaxed(self, q: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``q_d``: ``q [..., V]`` with the mass of each draft token's taken neighbours moved onto it (``tokens [...]``)."""
        table = self._table.to(q.device)
        near = table[tokens]  # [..., K]
        q_near = torch.where(near >= 0, q.gather(-1, near.clamp(min=0)), 0.0)
        taken = (q_near.cumsum(-1) <= self.delta).long().cumprod(-1).bool() & (near >= 0)  # stop at the first misfit
        taken &= q.gather(-1, tokens[..., None]) > 0  # never relax a token the target rules out
        moved = (q_near * taken).sum(-1, keepdim=True)
        dropped = torch.zeros_like(q).scatter_add(-1, near.clamp(min=0), taken.to(q.dtype))
        return torch.where(dropped > 0, 0.0, q).scatter_add(-1, tokens[..., None], moved)

    def accept(
        self, draft: Draft, target_probs: torch.Tensor, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        tokens, q = draft.tokens, target_probs.float()
        B, k = tokens.shape
        if q.shape[-1] != self.vocab_size:
            raise GenerationError(f"lantern neighbourhoods cover {self.vocab_size} tokens but the target has "
                                  f"{q.shape[-1]}: build them for the target's vocabulary")
        lengths = draft_lengths(draft)
        if k == 0:
            return lengths, draw(q[:, 0], generator)
        relaxed = self.relaxed(q[:, :k], tokens)  # [B, k, V]
        q_d = relaxed.gather(-1, tokens[..., None])[..., 0]
        p = draft.probs.float() if self.ratio_test and draft.probs is not None else None
        p_d = torch.ones_like(q_d) if p is None else p.gather(-1, tokens[..., None])[..., 0]
        u = torch.rand(B, k, generator=generator, device=q.device)
        accepted = kept_prefix(u * p_d < q_d, lengths)  # u < q_d / p_d, without dividing by p_d = 0

        # The target's token: from q_d without d (or max(0, q_d - p)) where a real draft token was
        # turned down, else from q.
        after = at(q, accepted)
        rejected = accepted < lengths
        if bool(rejected.any()):
            j = accepted.clamp(max=k - 1)
            if p is None:
                residual = at(relaxed, j).scatter(-1, at(tokens, j)[:, None], 0.0)
            else:
                residual = (at(relaxed, j) - at(p, j)).clamp(min=0)
            total = residual.sum(-1, keepdim=True)
            residual = torch.where(total > 0, residual / total.clamp(min=1e-30), after)
            after = torch.where(rejected[:, None], residual, after)
        return accepted, draw(after, generator)
