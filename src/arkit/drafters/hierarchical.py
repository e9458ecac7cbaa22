"""Hierarchical drafting (the TriForce idea): a drafter accelerated by another drafter. Registered as ``core/hierarchical``.

Two levels: a draft model (``core/draft-model``) proposes for the target, and an
inner drafter (by default ``core/prompt-lookup``) proposes for the draft model.
Instead of one draft-model pass per drafted token, each round feeds the inner
drafter's guesses to the draft model in one pass, keeps the prefix the draft
model agrees with (greedy match; exact speculative sampling of the inner
guesses when the draft model samples) and adds the draft model's own token.
The draft is the same as the draft model's own (greedy) or has the same
distribution (sampling), in fewer draft-model passes; the target's output is
unchanged either way. Pays off when the draft model is not much cheaper than
the target and the text repeats (the inner drafter's guesses are free).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..errors import ConfigError
from ..protocols import Drafter, StatefulDrafter
from ..registry import create
from ..types import Draft
from .draft_model import DraftModel, _describe

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["HierarchicalDrafter"]


def _component(spec: Any, what: str) -> Any:
    if isinstance(spec, Mapping):
        if not isinstance(spec.get("name"), str) or not isinstance(spec.get("config", {}), Mapping):
            raise ConfigError(f"hierarchical {what} must be {{'name': str, 'config': {{...}}}}, got {dict(spec)!r}")
        return create("drafter", spec["name"], **dict(spec.get("config", {})))
    return spec


def _vocabulary(drafter: Drafter) -> int | None:
    """The vocabulary a drafter is built for: a draft model's own, or ``vocab_size`` in its config (if any)."""
    if isinstance(drafter, (DraftModel, HierarchicalDrafter)):
        return drafter.vocab_size
    size = drafter.config.get("vocab_size")
    return size if isinstance(size, int) and not isinstance(size, bool) else None


class HierarchicalDrafter(nn.Module):
    """A draft model (``drafter``) whose own drafting is accelerated by ``inner`` (another drafter).

    ``HierarchicalDrafter(DraftModel(small_pipe), inner=arkit.create("drafter", "core/prompt-lookup"))``,
    or from specs: ``drafter={"name": "core/draft-model", "config": {...}}``, ``inner={"name": ..., "config": ...}``.
    """

    def __init__(self, drafter: Any = None, inner: Any = None) -> None:
        super().__init__()
        if drafter is None:
            raise ConfigError("a hierarchical drafter needs a draft model: drafter=DraftModel(...) or "
                              "{'name': 'core/draft-model', 'config': {...}}")
        self.drafter = _component(drafter, "drafter")
        if not isinstance(self.drafter, DraftModel):
            raise ConfigError(f"a hierarchical drafter's outer drafter must be a core/draft-model, "
                              f"got {type(self.drafter).__name__}")
        inner = {"name": "core/prompt-lookup", "config": {}} if inner is None else inner
        self.inner = _component(inner, "inner drafter")
        if not isinstance(self.inner, Drafter):
            raise ConfigError(f"the inner drafter ({type(self.inner).__name__}) is not an arkit.protocols.Drafter: "
                              f"it needs propose(tokens, k) and config")
        inner_vocab = _vocabulary(self.inner)
        if inner_vocab is not None and inner_vocab != self.drafter.vocab_size:
            raise ConfigError(f"the inner drafter's vocab_size ({inner_vocab}) differs from the draft model's "
                              f"({self.drafter.vocab_size})")
        self.vocab_size = self.drafter.vocab_size

    @property
    def config(self) -> Mapping[str, Any]:
        inner = _describe("drafter", self.inner)
        if inner is None:
            raise ConfigError(f"the inner drafter ({type(self.inner).__name__}) is not a registered component, "
                              f"so the hierarchical drafter cannot describe itself for saving")
        return {"drafter": {"name": "core/draft-model", "config": dict(self.drafter.config)}, "inner": inner}

    @property
    def uses_generator(self) -> bool:
        """Whether sampled drafts come from the generator :meth:`start` receives (the draft model's)."""
        return self.drafter.uses_generator

    def start(self, pipe: Pipeline, batch_size: int, *, generator: torch.Generator | None = None) -> None:
        self.drafter.start(pipe, batch_size, generator=generator)
        if isinstance(self.inner, StatefulDrafter):
            self.inner.start(pipe, batch_size)

    def draft_cost(self, target: Any, width: int) -> float:
        """At most its draft model's: the inner drafter only saves draft-model passes."""
        return self.drafter.draft_cost(target, width)

    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        return self.drafter.propose_assisted(tokens, k, self.inner)
