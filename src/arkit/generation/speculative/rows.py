"""Each row's progress through a speculative generation, and the emission of its tokens.

A pass can emit several tokens per row: the kept draft tokens, then the
target's own. They are emitted one by one under the usual stopping rules
(:class:`~arkit.generation.stopping.Stopping`), so a row that ends inside its
kept draft emits nothing after that point.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    ) -> tuple[list[tuple[GenerationEvent, float | None]], list[int]]:
        """Each live row's kept draft tokens and the target's token as ``(event, logprob)``, stopping where the
        row ends; and the draft tokens each of the pass's rows kept (those before its end). The pass's row ``a``
        is row ``ids[a]`` of the batch (finished rows may have left the pass)."""
        chosen = decision.next_tokens.tolist()
        drafted = draft.tokens.tolist() if any(decision.accepted) else None
        lps = scores.log_softmax(-1) if logprobs else None
        events: list[tuple[GenerationEvent, float | None]] = []
        kept = [0] * len(ids)
        for a, path in enumerate(decision.paths):
            row = ids[a]
            if not self.live[row]:
                continue
            tokens = [drafted[a][node] for node in path] + [chosen[a]] if drafted is not None else [chosen[a]]
            history = self.tokens[row]
            for j, token in enumerate(tokens):
                produced = self.produced[row] = self.produced[row] + 1
                history.append(token)
                reason = stopping.reason(row, token, history, produced)
                if self.states is not None and reason is None:
                    self.states[row], done = stopping.advance(self.states[row], token)
                    if done:
                        reason = "constraint"
                # the log-probability under the scores of the pass position the token came from
                lp = None if lps is None else float(lps[a, 0 if j == 0 else 1 + path[j - 1], token])
                events.append((GenerationEvent(row=row, index=produced - 1, token_id=token, finish_reason=reason), lp))
                if reason is not None:
                    self.live[row] = False
                    break
                if j < decision.accepted[a]:
                    kept[a] += 1
        stats.generated += len(events)
        stats.accepted += sum(kept)
        return events, kept
