"""The cache's slots, row by row, as speculative decoding fills them and rolls them back.

Rows advance by different amounts per pass, so cache slots and token positions
part ways. ``history[r, s]`` is the token in row ``r``'s slot ``s``: ``-1`` marks
padding before a prompt, a finished row, and *holes*, slots that one row did not
keep while another row kept its draft there (the cache keeps the longest kept
draft among live rows). The attention mask hides every ``-1`` slot. Positions
count each row's real tokens only. At batch 1 there are never holes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...types import Draft
from ..batch import compact

__all__ = ["Slots"]


class Slots:
    """``history: LongTensor[R, size]``, of which the first ``filled`` slots are in the cache.

    Rows ``0 .. B-1`` are the prompts; with guidance, rows ``B .. 2B-1`` are their twins,
    which hold the same generated tokens.
    """

    def __init__(self, history: torch.Tensor, batch: int, guided: bool) -> None:
        self.history, self.batch, self.guided = history, batch, guided
        self.filled = 0
        self.holes = False

    def context(self, width: int | None = None) -> torch.Tensor:
        """Each row's real tokens so far (or in the first ``width`` slots), right-aligned, ``-1`` before."""
        return compact(self.history[: self.batch, : width if width is not None else self.filled], self.holes)

    def pend(self, pending: torch.Tensor, ids: Sequence[int], live: Sequence[bool]) -> torch.Tensor:
        """Each pass row's context and pending token, ``[A, filled + 1]``, right-aligned; the pass's row ``a`` is
        row ``ids[a]``. While every row is live and in the pass, the pending tokens go straight into their slot
        (the next one the cache fills) and the slots are the context: no copy."""
        S, B = self.filled, self.batch
        if len(ids) == B and all(live):
            self.history[:B, S] = pending
            return compact(self.history[:B, : S + 1], self.holes)
        return torch.cat([self.context()[list(ids)], pending[:, None]], 1)

    def keep(self, pending: torch.Tensor, draft: Draft, paths: Sequence[list[int]], kept: Sequence[int],
             ids: Sequence[int], live: Sequence[bool]) -> int:
        """After :meth:`pend`, write the pass's pending tokens and kept drafts into their slots; return how many
        slots the cache keeps.

        The pass's row ``a`` is row ``ids[a]``. The cache keeps the pending token and the longest kept draft
        among rows still ``live``; a tree's kept path skips other branches' slots. Slots a row did not keep
        within that stretch become holes, and so do all slots of a finished row from here on.
        """
        S, B = self.filled, self.batch
        going = [a for a, row in enumerate(ids) if live[row]]
        ends = [paths[a][kept[a] - 1] if kept[a] else -1 for a in going]  # each live row's last kept node
        keep = 2 + max(ends, default=-1)
        if len(going) < B:  # (with every row live, pend wrote the pending tokens already)
            self.history[list(ids), S] = -1
            if going:
                self.history[[ids[a] for a in going], S] = pending[going]
        self.holes = self.holes or len(going) < len(ids) or any(kept[a] + 1 < keep for a in going)
        tokens = draft.tokens.tolist() if keep > 1 else []
        where = [(ids[a], S + 1 + node, tokens[a][node]) for a in going for node in paths[a][: kept[a]]]
        if where:  # the kept draft tokens, all rows at once
            rows, slots, values = zip(*where)
            self.history[list(rows), list(slots)] = pending.new_tensor(values)
        if self.guided:
            self.history[B:, S : S + keep] = self.history[:B, S : S + keep]
        self.filled += keep
        return keep

    def mask(self, seen: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        """``BoolTensor[R, n, filled + n]`` for a pass of ``n`` new positions over ``rows`` (all when ``None``):
        every real slot, then ``seen`` among the pass's own positions."""
        R, n = seen.shape[0], seen.shape[1]
        history = self.history if rows is None else self.history[rows]
        real = history[:, : self.filled] >= 0
        return torch.cat([real[:, None, :].expand(R, n, self.filled), seen], -1)
