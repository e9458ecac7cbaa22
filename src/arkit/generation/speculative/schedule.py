"""How many draft tokens to ask for in the next pass.

``draft_schedule="constant"`` always asks for ``num_draft_tokens``. ``"adaptive"``
(the default) grows the ask by one after a pass that kept every drafted token and
shrinks it by one after a pass that kept less than half. When even one draft token
mostly fails, drafting pauses for 1, 2, 4, ... (at most :data:`MAX_PAUSE`) passes
before it tries again, so a drafter that does not fit the text costs little.
"""

from __future__ import annotations

__all__ = ["MAX_PAUSE", "DraftSchedule"]

MAX_PAUSE = 32
"""Longest run of passes without drafts under the adaptive schedule (pauses double while drafts keep failing)."""


class DraftSchedule:
    """The draft length of each pass, between 1 and ``k`` (0 while paused)."""

    def __init__(self, k: int, *, adaptive: bool) -> None:
        self.k, self.adaptive = k, adaptive
        self.asked = k  # drafts asked per pass
        self.pause = 0  # passes left without drafting
        self.wait = 1  # the next pause's length

    def update(self, kept: int, proposed: int) -> None:
        """After a pass: rows' drafts could add ``proposed`` tokens and ``kept`` of them were kept."""
        if not self.adaptive or not proposed:
            return
        if kept == proposed:
            self.asked, self.wait = min(self.k, self.asked + 1), 1
        elif 2 * kept < proposed:
            if self.asked == 1:  # even one draft token mostly fails: decode plainly for a while, then try again
                self.pause, self.wait = self.wait, min(2 * self.wait, MAX_PAUSE)
            self.asked = max(1, self.asked - 1)

    def next(self, room: int, wanted: int, trees: bool) -> int:
        """Draft tokens for the next pass: the ask, within the context's ``room`` and the tokens rows still
        ``wanted`` after the pending one. A tree's nodes outnumber its depth: any size helps while a row
        wants two or more tokens."""
        k = max(0, min(self.asked, room, wanted if not trees or wanted <= 0 else self.asked))
        if self.pause:
            self.pause, k = self.pause - 1, 0
        return k
