"""Sample many molecules from a pipeline, with or without the validity constraint, and measure the constraint.

:func:`sample_molecules` runs ``Pipeline.generate`` in batches (KV cache, one
prompt per row), decodes each row to SMILES (SELFIES rows through ``selfies``)
and, for constrained runs, measures how often the constraint had to intervene:
it re-scores the sampled sequences with the model in one teacher-forced pass and
replays the constraint, so at every generated position it knows the model's own
distribution (after the sampler's processing) and what the constraint allowed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import attrs
import torch
from tqdm.auto import tqdm

from arkit import ConfigError, Pipeline

from .constraint import SmilesConstraint
from .selfies_constraint import SelfiesConstraint
from .selfies_tokenizer import SelfiesTokenizer, to_smiles

__all__ = ["Intervention", "Samples", "measure_intervention", "sample_molecules"]


@attrs.frozen(kw_only=True)
class Intervention:
    """How much the constraint changed the model's choices, over every generated position."""

    steps: int
    """Generated positions measured (end tokens included)."""
    argmax_removed: float
    """Share of positions where the model's most likely token was forbidden."""
    mass_removed: float
    """Mean probability mass the constraint took away per position."""
    steps_with_mass_removed: float
    """Share of positions where the constraint removed more than 1 % of the mass."""

    def as_dict(self) -> dict[str, float]:
        return attrs.asdict(self)


@attrs.frozen(kw_only=True)
class Samples:
    """Sampled molecules as SMILES ("" for an empty row), why each row stopped, and the intervention."""

    smiles: tuple[str, ...]
    raw: tuple[str, ...]
    """Each row as the tokenizer decoded it (SMILES or SELFIES)."""
    finish_reasons: dict[str, int]
    intervention: Intervention | None = None
    seconds: float = 0.0


@torch.inference_mode()
def measure_intervention(pipe: Pipeline, prompts: Sequence[Sequence[int]], sequences: Sequence[Sequence[int]],
                         constraint: Any) -> Intervention:
    """Replay ``constraint`` over generated ``sequences`` and compare it with the model's distribution."""
    steps = argmax_removed = heavy = 0
    mass = 0.0
    width = max(len(p) + len(s) for p, s in zip(prompts, sequences))
    for row_start in range(0, len(prompts), 256):
        rows = list(range(row_start, min(row_start + 256, len(prompts))))
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            seq = list(prompts[r]) + list(sequences[r])
            ids[i, : len(seq)] = torch.tensor(seq)
        positions = torch.arange(width)[None].expand(len(rows), -1)
        logits = pipe.head(pipe.backbone(ids, positions=positions)).float()
        for i, r in enumerate(rows):
            state = constraint.start()
            p = len(prompts[r])
            for j, token in enumerate(sequences[r]):
                scores = pipe.sampler.process(logits[i, p + j - 1][None], ids[i : i + 1, : p + j])[0]
                probs = scores.softmax(-1)
                allowed = torch.zeros_like(probs, dtype=torch.bool)
                allowed[list(constraint.allowed(state))] = True
                removed = float(probs[~allowed].sum())
                steps += 1
                mass += removed
                heavy += removed > 0.01
                argmax_removed += not bool(allowed[int(scores.argmax())])
                if token == constraint.eos:
                    break
                state = constraint.advance(state, int(token))
    if steps == 0:
        return Intervention(steps=0, argmax_removed=0.0, mass_removed=0.0, steps_with_mass_removed=0.0)
    return Intervention(steps=steps, argmax_removed=argmax_removed / steps, mass_removed=mass / steps,
                        steps_with_mass_removed=heavy / steps)


def sample_molecules(
    pipe: Pipeline, n: int, *, prompt: str = "", constrained: bool = False, max_new_tokens: int = 80,
    batch_size: int = 250, seed: int = 0, progress: bool = True, guidance_scale: float = 1.0,
    max_ring_size: int | None = None, **generate_options: Any,
) -> Samples:
    """Sample ``n`` molecules (``prompt``: a condition tag such as ``"<qed2>"``, or nothing).

    ``constrained=True`` passes a :class:`SmilesConstraint` with ``max_tokens=max_new_tokens``
    and ``max_ring_size`` (a SELFIES pipeline: a :class:`SelfiesConstraint`, ``max_ring_size`` required) and
    measures its intervention (not with guidance, whose mixed
    logits the teacher-forced replay does not reproduce). ``guidance_scale`` != 1 mixes the
    prompted and the bare-``bos`` predictions (classifier-free guidance) to strengthen a condition.
    """
    import time

    selfies = isinstance(pipe.tokenizer, SelfiesTokenizer)
    if constrained and selfies and max_ring_size is None:
        raise ConfigError("SELFIES strings are valid by construction: their constraint only limits ring sizes, so "
                          "pass max_ring_size with constrained=True")
    if max_ring_size is not None and not constrained:
        raise ConfigError("max_ring_size limits the constraint's rings: pass constrained=True with it")
    constraint: SmilesConstraint | SelfiesConstraint | None = None
    if constrained and selfies:
        constraint = SelfiesConstraint(pipe.tokenizer, max_ring_size=max_ring_size)
    elif constrained:
        constraint = SmilesConstraint(pipe.tokenizer, max_tokens=max_new_tokens, max_ring_size=max_ring_size)
    prompt_ids = pipe.encode(prompt)
    raw: list[str] = []
    sequences: list[tuple[int, ...]] = []
    reasons: Counter[str] = Counter()
    start = time.perf_counter()
    batches = range(0, n, batch_size)
    guided = guidance_scale != 1.0
    for b in tqdm(batches, desc="sampling", disable=not progress, leave=False):
        rows = min(batch_size, n - b)
        if guided:
            generate_options = {**generate_options, "guidance_scale": guidance_scale,
                                "negative_prompt_ids": [pipe.encode("")] * rows}
        out = pipe.generate(prompt_ids=[prompt_ids] * rows, constraint=constraint, max_new_tokens=max_new_tokens,
                            seed=seed + b, **generate_options)
        raw.extend(out.decoded)
        sequences.extend(out.sequences)
        reasons.update(out.finish_reasons)
    seconds = time.perf_counter() - start
    smiles = [to_smiles(s) for s in raw] if selfies else list(raw)
    intervention = None
    if constraint is not None and not guided:
        intervention = measure_intervention(pipe, [prompt_ids] * n, sequences, constraint)
    return Samples(smiles=tuple(smiles), raw=tuple(raw), finish_reasons=dict(reasons), intervention=intervention,
                   seconds=seconds)
