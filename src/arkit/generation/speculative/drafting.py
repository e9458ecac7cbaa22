"""The drafter as the loop uses it: its optional capabilities, asked once, and its drafts, checked.

A drafter only has to ``propose``. What else it can do is read from the
capability protocols of :mod:`arkit.protocols` with ``isinstance``, the same way
for built-in and plugin drafters:

- :class:`~arkit.protocols.StatefulDrafter`: ``start(pipe, batch_size)`` before each generation;
- :class:`~arkit.protocols.SamplingDrafter`: ``start`` also gets a generator seeded from the
  generation's, and ``uses_generator`` says whether the drafts come from it;
- :class:`~arkit.protocols.ObservingDrafter`: ``observe(verification)`` after every target pass;
- :class:`~arkit.protocols.TreeDrafter`: ``tree_drafts`` says whether drafts may be trees, which
  needs a :class:`~arkit.protocols.TreeAcceptanceRule`;
- :class:`~arkit.protocols.CostedDrafter`: ``draft_cost(target, width)``, what a draft of each
  width costs, for the adaptive schedule.
"""

from __future__ import annotations

import inspect
import numbers
from typing import TYPE_CHECKING, Any

import torch

from ...errors import ConfigError, GenerationError
from ...protocols import (
    CostedDrafter,
    ObservingDrafter,
    SamplingDrafter,
    StatefulDrafter,
    TreeAcceptanceRule,
    TreeDrafter,
)
from ...types import Draft, Verification
from .checks import check_draft

if TYPE_CHECKING:
    from ...pipeline import Pipeline
    from ...protocols import AcceptanceRule, Drafter

__all__ = ["Drafting"]


class Drafting:
    """``drafter``'s capabilities for one generation, with ``rule`` as the acceptance rule."""

    def __init__(self, drafter: Drafter, rule: AcceptanceRule) -> None:
        self.drafter = drafter
        self.trees = isinstance(drafter, TreeDrafter) and bool(drafter.tree_drafts)
        """Drafts may be trees: the loop reserves cache room for the branches the target discards."""
        if self.trees and not isinstance(rule, TreeAcceptanceRule):
            raise ConfigError(f"the drafter proposes trees but the acceptance rule {type(rule).__name__} keeps only "
                              f"chains: use core/exact or core/greedy-match, or a chain drafter")
        self.observes = isinstance(drafter, ObservingDrafter)
        self.random = False
        """Drafts are draws from the generation's generator: only then do their ``probs`` reach the rule."""

    def start(self, pipe: Pipeline, batch_size: int, generator: torch.Generator) -> None:
        """Before the prefill: reset the drafter; a sampling drafter gets a stream seeded from ``generator``."""
        drafter = self.drafter
        sampling = isinstance(drafter, SamplingDrafter)
        if sampling or _takes_generator(drafter):
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            drafter.start(pipe, batch_size, generator=torch.Generator(device=generator.device).manual_seed(seed))
            self.random = bool(drafter.uses_generator) if sampling else True
        elif isinstance(drafter, StatefulDrafter):
            drafter.start(pipe, batch_size)

    def costs(self, pipe: Pipeline, k: int) -> list[float]:
        """What a draft of each width 0..``k`` costs, in plain target steps (0 for a drafter that does not say)."""
        if not isinstance(self.drafter, CostedDrafter):
            return [0.0] * (k + 1)
        costs = [0.0]
        for width in range(1, k + 1):
            cost = self.drafter.draft_cost(pipe.backbone, width)
            if isinstance(cost, bool) or not isinstance(cost, numbers.Real) or not 0 <= float(cost) < float("inf"):
                raise GenerationError(f"{type(self.drafter).__name__}.draft_cost(target, {width}) returned {cost!r}; "
                                      f"it must be a finite number >= 0 (plain target steps)")
            costs.append(float(cost))
        return costs

    def propose(self, tokens: torch.Tensor, k: int, vocab: int, live: list[bool]) -> Draft:
        """Up to ``k`` draft tokens per row of ``tokens`` (each row's context and pending token), checked.

        A draft not drawn from the generation's generator loses its ``probs`` (a fixed guess). With
        ``lengths``, the draft is cut to the longest proposal among ``live`` rows: the pass scores
        no position that no row needs.
        """
        draft = self.drafter.propose(tokens, k)
        check_draft(draft, tokens.shape[0], k, vocab)
        if draft.probs is not None and not self.random:  # not the generation's draws: a fixed guess
            draft = Draft(tokens=draft.tokens, lengths=draft.lengths, parents=draft.parents)
        if draft.parents is not None and not self.trees:
            raise GenerationError(f"{type(self.drafter).__name__} returned a tree draft without declaring "
                                  f"tree_drafts = True (the loop reserves cache room for trees from it)")
        if draft.lengths is not None:
            longest = max((n for n, alive in zip(draft.lengths.tolist(), live) if alive), default=0)
            if longest == 0:  # nothing to verify: the pass is a plain step
                return Draft(tokens=draft.tokens[:, :0])
            if longest < k:
                draft = Draft(tokens=draft.tokens[:, :longest],
                              probs=None if draft.probs is None else draft.probs[:, :longest],
                              lengths=draft.lengths.clamp(max=longest),
                              parents=None if draft.parents is None else draft.parents[:, :longest])
        return draft

    def observe(self, verification: Verification) -> None:
        """After a target pass: what it decided, for a drafter that learns from it."""
        if self.observes:
            self.drafter.observe(verification)  # type: ignore[attr-defined]


def _takes_generator(drafter: Any) -> bool:
    """arkit 0.1's rule, kept for drafters written against it: a ``start`` that takes a keyword ``generator``
    (and no ``uses_generator``, else it would be a :class:`SamplingDrafter`) samples from it. The one
    signature check left; new drafters declare :class:`~arkit.protocols.SamplingDrafter` instead."""
    if not isinstance(drafter, StatefulDrafter):
        return False
    try:
        return "generator" in inspect.signature(drafter.start).parameters
    except (TypeError, ValueError):  # a builtin or C-level start: no signature to read
        return False
