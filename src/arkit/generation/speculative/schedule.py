"""How many draft tokens the next pass verifies.

``draft_schedule="constant"`` always drafts ``num_draft_tokens``.

``"adaptive"`` (the default) chooses each pass's width with a cost model. Every row of
a batch is verified at the same width, so the question is whether the batch as a whole
gains from it:

- each row ``r`` keeps an estimate ``p_r`` of its chance to keep each next draft token,
  from its recent passes (kept tokens against kept tokens plus first rejections, older
  passes weighing less), so its ``j``-th draft token is kept with probability about
  ``p_r ** j``;
- a pass over ``A`` rows and ``1 + d`` positions is taken to cost like
  ``OVERHEAD + A * (1 + d) + DRAFTING + DRAFTING_ROW * A`` tokens' worth of time (a
  plain step: ``OVERHEAD + A``): reading the weights and the loop's own work, one token
  per position, and, when there is a draft, proposing it, checking it, and scoring,
  accepting and emitting each row's positions. A drafter whose drafts cost more the wider they are (a
  draft model's ``d`` sequential steps) says so through
  :class:`~arkit.protocols.CostedDrafter`: ``draft_cost(target, d)`` plain steps, added
  as ``draft_cost * (OVERHEAD + A)``;
- the width ``d`` with the most expected tokens per unit of cost wins. When that is
  ``d = 0`` the drafter is not called and the pass is a plain step.

Once the width is paid for, every row drafts to it: a row that mostly fails rides along
at no extra target cost, and its estimate keeps learning. While the whole batch decodes
plainly, the estimates drift back towards the prior (0.8: drafting is tried first), so
drafting is tried again after a while. A drafter that never fits costs a probe pass now
and then; rows that copy together draft long; one copying row among seven that do not is
not worth widening everyone's pass for, four are.

A drafter with nothing to propose (``Draft.lengths`` 0 for every live row, as prompt
lookup without a match) leaves its rows' estimates alone: it may find a match on the next
pass. It is asked again after 1, then 2, then 4 plain passes (at most ``_PAUSE``) while
it keeps proposing nothing, so a drafter that never drafts costs a call every fifth pass.

Nothing here reads a clock: the widths depend only on earlier passes' outcomes, so a
seeded sampled generation drafts the same way on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DRAFTING", "DRAFTING_ROW", "OVERHEAD", "DraftSchedule"]

OVERHEAD = 80
"""A target pass's fixed cost, in tokens' worth of time, for the width rule."""

DRAFTING = 24
"""The extra fixed cost of a pass that verifies a draft (proposing and checking it), in tokens' worth."""

DRAFTING_ROW = 2.5
"""The extra cost per row of a pass that verifies a draft (scoring, accepting and emitting its positions).

The three constants are a CPU fit for ``arkit bench speculative``'s target (``core/ref-text``, 3.3M
parameters, one thread): with drafts that are never kept, a whole pass (loop included) took 1.35x a plain
step at batch 1 whatever its width (1-5 draft tokens), and 1.48x (width 1) to 1.9x (width 5) at batch 8;
the model gives 1.34-1.39x and 1.56-1.96x. A pass's extra positions cost little next to its fixed work.
On a GPU, where a pass's positions cost almost nothing, they overstate the cost of drafting."""

_DECAY = 0.6  # weight of a row's earlier passes in its estimate, per pass that drafts
_FORGET = 0.99  # per plain pass: the evidence fades and the estimate drifts back to the prior
_PRIOR = 0.8  # the estimate of a row without history (hopeful: drafting is tried first), worth one draft token
_PAUSE = 4  # the most plain passes before a drafter that proposed nothing is asked again


class DraftSchedule:
    """The draft width of each pass of a batch of ``rows`` rows, between 0 and ``k``."""

    def __init__(self, k: int, rows: int, *, adaptive: bool, costs: Sequence[float] = ()) -> None:
        self.k, self.adaptive = k, adaptive
        self.costs = list(costs) or [0.0] * (k + 1)  # the drafter's own cost of a width-d draft, in plain steps
        self.hits = [0.0] * rows  # recent kept draft tokens per row, decayed
        self.trials = [0.0] * rows  # and kept tokens plus first rejections
        self.asked = False  # whether the drafter was asked for the last pass
        self.empty = 0  # passes in a row in which it proposed nothing
        self.pause = 0  # plain passes left before asking it again

    def acceptance(self, row: int) -> float:
        """Row ``row``'s estimated chance of keeping each next draft token."""
        return (self.hits[row] + _PRIOR) / (self.trials[row] + 1.0)

    def update(self, rows: Sequence[int], kept: Sequence[int], proposed: Sequence[int]) -> None:
        """After a pass: row ``rows[a]``'s draft could add ``proposed[a]`` tokens and ``kept[a]`` of them were kept."""
        if self.asked and not any(proposed):  # the drafter had nothing for any row: ask again later
            self.empty += 1
            self.pause = min(2 ** (self.empty - 1), _PAUSE)
        elif any(proposed):
            self.empty = 0
        for row, got, tried in zip(rows, kept, proposed):
            decay = _DECAY if tried else _FORGET
            self.hits[row] = decay * self.hits[row] + got
            self.trials[row] = decay * self.trials[row] + got + (got < tried)

    def next(self, room: int, wanted: int, trees: bool, live: Sequence[bool]) -> int:
        """The next pass's draft width, within the context's ``room`` and the tokens rows still ``wanted``
        after the pending one. A tree's nodes outnumber its depth: any size helps while a row wants two or
        more tokens."""
        limit = max(0, min(self.k, room, wanted if not trees or wanted <= 0 else self.k))
        self.asked = False
        if not self.adaptive or not limit:
            return limit
        if self.pause:
            self.pause -= 1
            return 0
        p = [self.acceptance(r) for r, alive in enumerate(live) if alive]
        rows = len(p)
        best, best_rate, tokens = 0, float(rows), float(rows)
        step = OVERHEAD + rows  # a plain step's cost
        for d in range(1, limit + 1):
            tokens += sum([x**d for x in p])
            rate = tokens * step / (OVERHEAD + rows * (1 + d + DRAFTING_ROW) + DRAFTING + self.costs[d] * step)
            if rate > best_rate:
                best, best_rate = d, rate
        self.asked = best > 0
        return best
