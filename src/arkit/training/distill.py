"""Draft-model distillation (the FastDraft recipe): train a small model on text the target writes.

A draft model is accepted more often when it imitates the target, not the
corpus. :func:`distill_draft_model` samples continuations of the given prompts
from the target, then trains the draft pipeline on prompt + continuation, as
token ids (no decode and re-encode round trip), with the ordinary fit loop.
Use the result with ``core/draft-model``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ConfigError, InputError
from ..types import TrainConfig, TrainResult

if TYPE_CHECKING:
    from ..pipeline import Pipeline

__all__ = ["distill_draft_model"]


class _TokenIds:
    """A pass-through tokenizer: training items are already the target's token ids."""

    lossless = True

    def __init__(self, vocab_size: int, special_tokens: Mapping[str, int]) -> None:
        self.vocab_size = vocab_size
        # no bos: the samples already start with the target's own bos, when it has one
        self.special_tokens = {k: v for k, v in special_tokens.items() if k != "bos"}

    @property
    def config(self) -> Mapping[str, Any]:
        return {"vocab_size": self.vocab_size}

    def encode(self, item: Any) -> list[int]:
        return list(item)

    def decode(self, ids: Sequence[int]) -> Any:
        return list(ids)


def distill_draft_model(
    target: Pipeline,
    draft: Pipeline,
    prompts: Sequence[Any],
    config: TrainConfig | None = None,
    *,
    samples_per_prompt: int = 1,
    max_new_tokens: int = 128,
    batch_size: int = 16,
    seed: int = 0,
) -> TrainResult:
    """Train ``draft`` (in place) on continuations of ``prompts`` sampled from ``target``.

    The target generates with its own sampler, seeded by ``seed``.
    ``samples_per_prompt`` continuations of ``max_new_tokens`` each are drawn per
    prompt, ``batch_size`` rows at a time. Then ``draft.fit`` trains on them with
    ``config``. Both pipelines must share a tokenizer (same vocabulary). Returns
    the draft's :class:`~arkit.TrainResult`.
    """
    if draft.tokenizer.vocab_size != target.tokenizer.vocab_size or draft.head.vocab_size != target.head.vocab_size:
        raise ConfigError(f"the draft pipeline's vocabulary ({draft.head.vocab_size}) differs from the target's "
                          f"({target.head.vocab_size}): a draft model must share the target's tokenizer")
    for name, value in (("samples_per_prompt", samples_per_prompt), ("max_new_tokens", max_new_tokens),
                        ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
    if not prompts:
        raise InputError("no prompts to distil from: give at least one")
    samples = _continuations(target, [p for p in prompts for _ in range(samples_per_prompt)],
                            max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed)
    config = config or TrainConfig()
    if config.out_dir is not None or config.checkpoint_every:
        raise ConfigError("distill_draft_model trains the draft in place: leave out_dir and checkpoint_every unset "
                          "and save the draft pipeline with save_pretrained afterwards")
    longest = max(len(s) for s in samples) + 1
    if config.seq_len > longest:  # rows no longer than the samples need
        config = attrs.evolve(config, seq_len=longest)
    return _as_token_ids(draft).fit(samples, config)


def _continuations(target: Pipeline, prompts: Sequence[Any], *, max_new_tokens: int, batch_size: int,
                  seed: int) -> list[list[int]]:
    """Each prompt's token ids followed by the continuation ``target`` writes with its own sampler,
    ``batch_size`` rows per ``generate`` call, call ``i`` seeded ``seed + i * batch_size``."""
    rows = [target.encode(p) for p in prompts]
    samples: list[list[int]] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        out = target.generate(prompt_ids=chunk, max_new_tokens=max_new_tokens, seed=seed + start)
        samples += [list(p) + list(s) for p, s in zip(chunk, out.sequences)]
    return samples


def _as_token_ids(pipe: Pipeline) -> Pipeline:
    """``pipe`` with a pass-through tokenizer, so training items can be its token ids."""
    return pipe.replace(tokenizer=_TokenIds(pipe.tokenizer.vocab_size, pipe.tokenizer.special_tokens))
