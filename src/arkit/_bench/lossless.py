"""``arkit bench lossless``: the losslessness matrix, for the record.

Runs :func:`arkit.testing.lossless.run_matrix`: every registered drafter x every
acceptance rule that claims ``lossless``, under each condition (a batch with mixed
prompt lengths, the same under a constraint, batch-1 calls with varied and with
default seeds), each a chi-square test of the generated sequences against the
exactly enumerated distribution of a vocabulary-5 target. Prints each test's
p-value, its Bonferroni threshold, the total variation (TV) between samples and
the exact distribution, and the TV sampling noise alone gives at that sample size
(``tv_null``). A deliberately lossy rule (it keeps every draft and claims to be
lossless) runs too and must fail: proof that the test can.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import time
from typing import Any

import torch

from ..errors import ArkitError
from ..testing import lossless

__all__ = ["run"]


class _KeepsEveryDraft:
    """Lossy on purpose: keeps every draft token and says it is lossless (the check must catch it)."""

    lossless = True
    config: Mapping[str, Any] = {}

    def accept(self, draft: Any, target_probs: torch.Tensor, generator: Any) -> tuple[torch.Tensor, torch.Tensor]:
        B, k = draft.tokens.shape
        lengths = draft.lengths if draft.lengths is not None else torch.full((B,), k, dtype=torch.long)
        after = target_probs[torch.arange(B), lengths.clamp(max=target_probs.shape[1] - 1)]
        return lengths, torch.multinomial(after.float(), 1, generator=generator)[:, 0]


def run(*, samples: int = 1200, calls: int = 250, alpha: float = 1e-3, seed: int = 0,
        progress: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """The matrix's results (and the lossy control's) as a JSON-ready dict."""
    torch.set_num_threads(1)
    started = time.perf_counter()
    target, cases, skipped = lossless.toy_target(), [], []
    for label, make, rule in lossless.registered_cases():
        try:  # a plugin drafter that needs a config of its own is listed, not guessed
            make(target)
        except ArkitError as exc:
            skipped.append({"drafter": label, "acceptance": rule, "reason": str(exc)})
            continue
        cases.append((label, make, rule))
    family = len(cases) * len(lossless.CONDITIONS) + 1
    results = []
    for label, make, rule in cases:
        progress(f"{label} + {rule}")
        results += lossless.check_lossless(make, rule, name=label, samples=samples, calls=calls, alpha=alpha,
                                           family=family, seed=seed)
    progress("lossy control")
    control = lossless.check_lossless(lossless.BUILTIN_CASES["core/draft-model"]["core/draft-model(temperature=1)"],
                                      _KeepsEveryDraft, name="core/draft-model(temperature=1)",
                                      conditions=("batch",), samples=samples, alpha=alpha, family=family, seed=seed)
    return {
        "benchmark": "lossless",
        "vocab_size": lossless.VOCAB,
        "new_tokens": lossless.NEW_TOKENS,
        "prompts": [list(p) for p in lossless.PROMPTS],
        "alpha": alpha,
        "tests": family,
        "results": [r.as_dict() for r in results],
        "all_lossless": all(r.passed for r in results),
        "lossy_control": {**control[0].as_dict(), "rejected": not control[0].passed},
        "skipped": skipped,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
