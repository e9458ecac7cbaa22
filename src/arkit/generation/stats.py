"""One statistics record, filled in by every loop as it runs.

Plain decoding fills ``steps`` and ``prefill_s``; speculative decoding fills the
rest as well. :meth:`Stats.speculative` freezes the speculative part into the
public :class:`arkit.SpeculativeStats` that :class:`arkit.GenerationOutput` carries.
"""

from __future__ import annotations

import attrs

from ..types import SpeculativeStats

__all__ = ["Stats"]


@attrs.define
class Stats:
    """What a generation call did: backbone calls, time, and (with a drafter) drafts proposed and kept."""

    steps: int = 0
    """Backbone calls, prefill included (``GenerationOutput.num_steps``)."""
    prefill_s: float = 0.0
    """Wall time of the first backbone call, over the prompts (``GenerationOutput.prefill_s``)."""
    drafted: int = 0
    """Draft tokens proposed to the target, summed over rows."""
    accepted: int = 0
    """Draft tokens the acceptance rule kept."""
    target_calls: int = 0
    """Verification passes of the target, prefill excluded."""
    row_calls: int = 0
    """Verification passes summed over the rows live in them."""
    generated: int = 0
    """Tokens emitted by speculative decoding, all rows together."""
    drafter_s: float = 0.0
    """Wall time inside the drafter."""
    target_s: float = 0.0
    """Wall time inside the target's forward passes, prefill included."""

    def speculative(self) -> SpeculativeStats:
        """The speculative counters as the frozen public record."""
        return SpeculativeStats(drafted=self.drafted, accepted=self.accepted, target_calls=self.target_calls,
                                row_calls=self.row_calls, generated=self.generated, drafter_s=self.drafter_s,
                                target_s=self.target_s)
