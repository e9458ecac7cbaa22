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

    def keep(self, pending: torch.Tensor, draft: Draft, paths: Sequence[list[int]], kept: Sequence[int],
             ids: Sequence[int], live: Sequence[bool]) -> int:
        """Write the pass's pending tokens and kept drafts into their slots; return how many slots the cache keeps.

        The pass's row ``a`` is row ``ids[a]``. The cache keeps the pending token and the longest kept draft
        among rows still ``live``; a tree's kept path skips other branches' slots. Slots a row did not keep
        within that stretch become holes, and so do all slots of a finished row from here on.
        """
        S, B = self.filled, self.batch
        reach = [1 + (paths[a][kept[a] - 1] if kept[a] else -1) for a in range(len(ids))]  # slots past pending
        keep = 1 + max((reach[a] for a, row in enumerate(ids) if live[row]), default=0)
        for a, row in enumerate(ids):
            if live[row]:
                self.history[row, S] = pending[a]
                for node in paths[a][: kept[a]]:
                    self.history[row, S + 1 + node] = draft.tokens[a, node]
                self.holes = self.holes or kept[a] + 1 < keep
            else:  # a finished row's slots stay -1 from here on: holes before its pending id
                self.holes = True
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
