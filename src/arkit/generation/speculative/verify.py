"""One verification pass, judged: the target's distribution at every position, and what the rule keeps.

:func:`target_scores` runs the shared scoring step (:class:`~arkit.generation.scoring.Scoring`:
NaN check, guidance, constraint, minimum length, the sampler's processing) at each
position of the pass. Position 0 continues each row's context and pending token;
position ``i + 1`` continues them and the draft's path to node ``i``. The
constraint's state is carried along each path for as long as the draft obeys it.
:func:`accept` then asks the acceptance rule for a prefix (a tree: a root-to-node
path) of each row's draft and the target's token after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import torch
import torch.nn.functional as F

from ...errors import GenerationError
from ...types import Draft
from ..scoring import SKIP
from .trees import node_contexts, node_depths

if TYPE_CHECKING:
    from ...protocols import AcceptanceRule, Constraint, Sampler
    from ..scoring import Scoring

__all__ = ["Decision", "accept", "plain_step", "target_probs", "target_scores"]


def target_scores(
    scoring: Scoring, logits: torch.Tensor, prefix: torch.Tensor, draft: Draft, states: Sequence[Any] | None,
    live: Sequence[bool], produced: Sequence[int],
) -> torch.Tensor:
    """``[B, n, V]``: the sampler's scores at each of the pass's ``n`` positions, for the ``B`` rows.

    ``logits``: ``[R, n, V]``, guidance twins included; ``prefix``: each row's context and pending
    token; ``states``: each row's constraint state before the pass (``None`` without a constraint).
    """
    B, n = prefix.shape[0], draft.tokens.shape[1] + 1
    low = min((p for p, alive in zip(produced, live) if alive), default=0)
    if n == 1 and states is None:  # no draft, no constraint: plain decoding's scoring (the sampler checks support)
        return scoring(logits[:, 0], prefix, produced=produced, step=low)[:, None]
    # Every position of every row in one call of the scoring step: row r's position i is row r * n + i
    # (the guidance twins' follow theirs, as the scoring step expects).
    V = logits.shape[-1]
    depths = node_depths(draft, n)
    ahead = [p + (depth if isinstance(depth, int) else depth[r]) for r, p in enumerate(produced) for depth in depths]
    allowed = None
    if states is not None:  # the constraint's masks along each row's draft, position by position
        along = _ConstraintPaths(scoring.constraint, draft, states, live, n)
        allowed = torch.stack([along.mask(scoring, i, V, logits.device, low) for i in range(n)], 1).view(B * n, V)
    contexts = node_contexts(prefix, draft, n).reshape(B * n, -1)
    scores = scoring(logits.reshape(-1, V), contexts, produced=ahead, allowed=allowed, step=low).reshape(B, n, V)
    alive = torch.tensor(list(live), device=scores.device)
    empty = ~torch.isfinite(scores[:, 0]).any(-1) & alive
    if bool(empty.any()):
        raise GenerationError(f"the sampler's processing left no token for row {int(empty.nonzero()[0, 0])}; "
                              f"loosen the truncation, penalties or bans")
    return scores


class _ConstraintPaths:
    """The constraint's state at every position of the pass, row by row (:data:`SKIP`: not masked there).

    A ``None`` state is a state like any other: constraints may use it.
    """

    def __init__(self, constraint: Constraint, draft: Draft, states: Sequence[Any], live: Sequence[bool],
                 n: int) -> None:
        self.constraint, self.n = constraint, n
        self.tokens = draft.tokens.tolist()
        k = draft.tokens.shape[1]
        self.chain = draft.parents is None
        self.parents = [[i - 1 for i in range(k)] for _ in states] if self.chain else draft.parents.tolist()
        # states[p][row]: the state after the path to position p; SKIP where the path breaks the constraint
        self.states: list[list[Any]] = [[s if alive else SKIP for s, alive in zip(states, live)]]
        self.states += [[SKIP] * len(states) for _ in range(n - 1)]

    def mask(self, scoring: Scoring, i: int, vocab: int, device: torch.device, step: int) -> torch.Tensor:
        """``BoolTensor[B, V]`` at position ``i``; then carry each row's state to the nodes whose parent sits at ``i``.

        At position 0 a dead end raises :class:`arkit.ConstraintError`; past it a row whose constraint allows
        nothing is left unmasked: the row ends before there, so that position is never used.
        """
        here = self.states[i]
        mask, empty = scoring.constraint_masks(here, vocab, device, step=step, strict=i == 0)
        k = len(self.tokens[0]) if self.tokens else 0
        for row, state in enumerate(here):
            if state is SKIP or empty[row]:
                continue
            for node in range(i, min(i + 1, k)) if self.chain else range(k):
                token = self.tokens[row][node]
                if self.parents[row][node] + 1 == i and bool(mask[row, token]):
                    self.states[node + 1][row] = self.constraint.advance(state, token)
        return mask


def target_probs(sampler: Sampler, scores: torch.Tensor) -> torch.Tensor:
    """The distribution the sampler draws from: one-hot on the argmax when it is deterministic, else the softmax."""
    if sampler.deterministic:
        return F.one_hot(scores.argmax(-1), scores.shape[-1]).float()
    return scores.float().softmax(-1)


@attrs.define
class Decision:
    """What the rule kept of each row's draft, and the target's token after it."""

    accepted: list[int]
    """Draft tokens kept per row (before the stopping rules cut a row short)."""
    paths: list[list[int]]
    """The kept nodes per row: ``0 .. accepted - 1`` for a chain, a root-to-node path for a tree."""
    next_tokens: torch.Tensor
    """``LongTensor[B]``: the target's token after each row's kept draft (the next pending token)."""
    last_kept: torch.Tensor | None
    """``LongTensor[B]``: the pass position whose scores gave ``next_tokens`` (``1 +`` the last kept node);
    ``None`` after a plain step, where it is 0 for every row."""


def plain_step(sampler: Sampler, scores: torch.Tensor, generator: torch.Generator) -> Decision:
    """A pass without drafts is a plain decoding step: the sampler picks each row's token, as in
    :mod:`arkit.generation.sample` (every acceptance rule draws it from the same distribution)."""
    next_tokens = sampler.select(scores[:, 0], generator)
    B = next_tokens.shape[0]
    return Decision(accepted=[0] * B, paths=[[]] * B, next_tokens=next_tokens, last_kept=None)


def accept(rule: AcceptanceRule, draft: Draft, probs: torch.Tensor, scores: torch.Tensor,
           generator: torch.Generator, live: Sequence[bool]) -> Decision:
    """Ask ``rule`` what to keep; refuse a target token outside the target's support (a broken rule)."""
    if draft.parents is None:
        accepted, next_tokens = rule.accept(draft, probs, generator)
        paths = [list(range(a)) for a in accepted.tolist()]
        last_kept = accepted.to(scores.device)  # a chain's last kept node a - 1 sits at position a
    else:
        paths, next_tokens = rule.accept_tree(draft, probs, generator)  # type: ignore[attr-defined]
        accepted = torch.tensor([len(p) for p in paths], device=next_tokens.device)
        last_kept = torch.tensor([1 + p[-1] if p else 0 for p in paths], device=scores.device)
    B = scores.shape[0]
    after = scores[:, 0] if scores.shape[1] == 1 else scores[torch.arange(B, device=scores.device), last_kept]
    outside = ~torch.isfinite(after.gather(-1, next_tokens[:, None].to(scores.device)))[:, 0]
    outside &= torch.tensor(list(live), device=scores.device)
    if bool(outside.any()):
        row = int(outside.nonzero()[0, 0])
        raise GenerationError(f"the acceptance rule chose token {int(next_tokens[row])} outside the target's "
                              f"support for row {row}")
    return Decision(accepted=accepted.tolist(), paths=paths, next_tokens=next_tokens, last_kept=last_kept)
