"""Prompt lookup: draft by copying from the context. Registered as ``core/prompt-lookup``.

Training-free (the input copy of Aggressive Decoding; prompt-lookup decoding).
For each row, the last ``n`` tokens are searched for earlier in the row's
context, longest ``n`` first (``max_ngram`` down to ``min_ngram``); the tokens
that followed the most recent earlier occurrence are the draft; when that
occurrence overlaps the end (a loop such as ``ababab``), the period is repeated
to fill all ``k`` tokens. A row with no match proposes nothing
(``Draft.lengths`` 0) and advances by the target's own token. Pays off when outputs repeat their inputs: code edits, summaries,
retrieval answers, repetitive sequences.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..errors import ConfigError
from ..types import Draft

__all__ = ["PromptLookup"]


class PromptLookup:
    """Propose the continuation of the latest earlier occurrence of each row's final n-gram."""

    def __init__(self, *, max_ngram: int = 3, min_ngram: int = 1) -> None:
        for name, value in (("max_ngram", max_ngram), ("min_ngram", min_ngram)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"prompt lookup {name} must be an integer >= 1, got {value!r}")
        if min_ngram > max_ngram:
            raise ConfigError(f"prompt lookup min_ngram ({min_ngram}) exceeds max_ngram ({max_ngram})")
        self.max_ngram, self.min_ngram = max_ngram, min_ngram

    @property
    def config(self) -> Mapping[str, Any]:
        return {"max_ngram": self.max_ngram, "min_ngram": self.min_ngram}

    def propose(self, tokens: torch.Tensor, k: int) -> Draft:
        B, S = tokens.shape
        follow = torch.full((B,), -1, dtype=torch.long, device=tokens.device)  # where each row's copy starts
        for n in range(self.max_ngram, self.min_ngram - 1, -1):
            if S <= n:
                continue
            windows = tokens.unfold(1, n, 1)[:, :-1]  # [B, S - n, n]: every n-gram but the row's last
            tail = tokens[:, -n:]
            hit = (windows == tail[:, None]).all(-1) & (windows >= 0).all(-1) & (tail >= 0).all(-1, keepdim=True)
            found = hit.any(-1) & (follow < 0)
            if bool(found.any()):
                last = hit.shape[1] - 1 - hit.flip(-1).long().argmax(-1)  # most recent matching start
                follow = torch.where(found, last + n, follow)
        # A match ending close to the end means the text repeats with period S - follow: keep repeating it.
        period = (S - follow).clamp(min=1)
        index = follow.clamp(min=0)[:, None] + torch.arange(k, device=tokens.device) % period[:, None]
        lengths = torch.where(follow >= 0, torch.full_like(follow, k), torch.zeros_like(follow))
        drafted = tokens.gather(1, index.clamp(max=S - 1)).clamp(min=0)
        drafted = torch.where(torch.arange(k, device=tokens.device) < lengths[:, None], drafted, torch.zeros_like(drafted))
        return Draft(tokens=drafted, lengths=lengths)
