"""Each row's progress through a speculative generation, and the emission of its tokens.

A pass can emit several tokens per row: the kept draft tokens, then the
target's own. They are emitted one by one under the usual stopping rules
(:class:`~arkit.generation.stopping.Stopping`), so a row that ends inside its
kept draft emits nothing after that point.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import torch

from ...types import GenerationEvent
from .verify import Decision

if TYPE_CHECKING:
    from ...protocols import Constraint
    from ...types import Draft
    from ..stats import Stats
    from ..stopping import Stopping

__all__ = ["Rows"]


class Rows:
    """Per row: its real tokens (prompt, then generated), constraint state, whether it is live, tokens emitted."""

    def __init__(self, prompts: Sequence[Sequence[int]], constraint: Constraint | None) -> None:
        self.tokens = [list(p) for p in prompts]
        self.states: list[Any] | None = [constraint.start() for _ in prompts] if constraint is not None else None
        self.live = [True] * len(prompts)
        self.produced = [0] * len(prompts)

    def emit(
        self, stopping: Stopping, draft: Draft, decision: Decision, scores: torch.Tensor, ids: Sequence[int],
        logprobs: bool, stats: Stats,
    ) -> Generator[tuple[GenerationEvent, float | None], None, list[int]]:
        """Yield each live row's kept draft tokens and the target's token, stopping where the row ends; return
        the draft tokens each of the pass's rows kept (those before its end). The pass's row ``a`` is row
        ``ids[a]`` of the batch (finished rows may have left the pass)."""
        drafted, chosen = draft.tokens.tolist(), decision.next_tokens.tolist()
        kept = [0] * len(ids)
        for a, path in enumerate(decision.paths):
            row = ids[a]
            if not self.live[row]:
                continue
            at = [0] + [1 + node for node in path]  # the pass position whose scores each emitted token came from
            for j, token in enumerate([drafted[a][node] for node in path] + [chosen[a]]):
                self.produced[row] += 1
                self.tokens[row].append(token)
                reason = stopping.reason(row, token, self.tokens[row], self.produced[row])
                if self.states is not None and reason is None:
                    self.states[row], done = stopping.advance(self.states[row], token)
                    if done:
                        reason = "constraint"
                lp = float(scores[a, at[j]].log_softmax(-1)[token]) if logprobs else None
                stats.generated += 1
                yield GenerationEvent(row=row, index=self.produced[row] - 1, token_id=token, finish_reason=reason), lp
                if reason is not None:
                    self.live[row] = False
                    break
                if j < decision.accepted[a]:
                    kept[a] += 1
            stats.accepted += kept[a]
        return kept
