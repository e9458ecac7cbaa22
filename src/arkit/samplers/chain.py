"""Compose samplers: each step's ``process`` in order, then the last step's ``select``.

Registered as ``core/chain``::

    arkit.create("sampler", "core/chain", steps=[
        {"name": "core/repetition-penalty", "config": {"penalty": 1.3}},
        {"name": "core/temperature", "config": {"temperature": 0.7}},
        {"name": "core/top-p", "config": {"p": 0.9}},
    ])

Steps may also be sampler objects (registered ones, so the chain can be saved).
End with ``core/greedy`` for deterministic decoding under penalties and masks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import ConfigError

__all__ = ["SamplerChain"]


class SamplerChain:
    """Samplers applied one after another; the last one selects."""

    def __init__(self, *, steps: Sequence[Mapping[str, Any] | Any] = ()) -> None:
        from ..registry import check_conforms, create

        if not steps:
            raise ConfigError("a sampler chain needs at least one step")
        self.steps: list[Any] = []
        for i, step in enumerate(steps):
            if isinstance(step, Mapping):
                unknown = set(step) - {"name", "config"}
                if "name" not in step or unknown:
                    raise ConfigError(f"chain step {i} must be {{'name': ..., 'config': {{...}}}}, got {dict(step)!r}")
                step = create("sampler", step["name"], **(step.get("config") or {}))
            check_conforms("sampler", step, what=f"chain step {i}")
            self.steps.append(step)
        self.deterministic = bool(self.steps[-1].deterministic)

    @property
    def config(self) -> Mapping[str, Any]:
        from ..registry import component_info

        return {"steps": [{"name": component_info("sampler", s).name, "config": dict(s.config)} for s in self.steps]}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            logits = step.process(logits, tokens)
        return logits

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return self.steps[-1].select(scores, generator)
