"""Small builders shared by the core tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import itertools
import math
from typing import Any

import torch

import arkit
from arkit._bench._common import IdTokenizer


def tiny_pipeline(sampler: str = "core/greedy", **sampler_config: Any) -> arkit.Pipeline:
    """A 2-layer, 64-wide byte-level pipeline: random weights (seeded), instant to build."""
    torch.manual_seed(0)
    return arkit.Pipeline.from_preset(
        "core/tiny-byte",
        backbone={"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "max_seq_len": 128},
        head={"d_model": 64},
        sampler=arkit.create("sampler", sampler, **sampler_config),
    )


# -- distribution tests: a toy target whose output distribution can be enumerated ------------------


def toy_target(vocab: int, *, sampler: Any = None, init_std: float = 0.6, seed: int = 3,
               **pipeline_components: Any) -> arkit.Pipeline:
    """A 1-layer, 16-wide transformer over ids ``0..vocab-1`` (seeded); sampler defaults to core/multinomial."""
    torch.manual_seed(seed)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=vocab, d_model=16, n_layers=1, n_heads=2,
                            max_seq_len=16, init_std=init_std)
    head = arkit.create("head", "core/categorical", d_model=16, vocab_size=vocab, init_std=init_std)
    return arkit.Pipeline(tokenizer=IdTokenizer(vocab), backbone=backbone, head=head,
                          sampler=sampler if sampler is not None else arkit.create("sampler", "core/multinomial"),
                          **pipeline_components)


def sequence_distribution(pipe: arkit.Pipeline, prompt: list[int], new_tokens: int, *,
                          constraint: Any = None, negative: list[int] | None = None,
                          guidance_scale: float = 1.0) -> dict[tuple[int, ...], float]:
    """P(sequence) of every ``new_tokens``-long continuation of ``prompt`` under plain sampling from ``pipe``.

    Each step's probabilities are the softmax of the sampler-processed logits, masked first by ``constraint``
    when one is given; with ``negative`` the logits are guided, ``uncond + scale * (cond - uncond)``.
    """
    vocab = pipe.tokenizer.vocab_size
    dist = {}

    def last_logits(ids: torch.Tensor) -> torch.Tensor:
        return pipe.head(pipe.backbone(ids, positions=torch.arange(ids.shape[1])[None]))[:, -1]

    with torch.no_grad():
        for seq in itertools.product(range(vocab), repeat=new_tokens):
            p, state = 1.0, constraint.start() if constraint is not None else None
            for i in range(new_tokens):
                ids = torch.tensor([prompt + list(seq[:i])])
                logits = last_logits(ids)
                if negative is not None:
                    uncond = last_logits(torch.tensor([negative + list(seq[:i])]))
                    logits = uncond + guidance_scale * (logits - uncond)
                if constraint is not None:
                    allowed = torch.zeros(vocab, dtype=torch.bool)
                    allowed[list(constraint.allowed(state))] = True
                    logits = logits.masked_fill(~allowed, float("-inf"))
                p *= float(pipe.sampler.process(logits, ids).softmax(-1)[0, seq[i]])
                if p == 0:
                    break
                if constraint is not None:
                    state = constraint.advance(state, seq[i])
            dist[seq] = p
    return dist


def sequence_counts(sequences: Iterable[Any]) -> dict[tuple[int, ...], int]:
    """How often each sequence occurs, keyed by tuple."""
    counts: dict[tuple[int, ...], int] = {}
    for seq in sequences:
        counts[tuple(seq)] = counts.get(tuple(seq), 0) + 1
    return counts


def tv_distance(counts: Mapping[tuple[int, ...], int], exact: Mapping[tuple[int, ...], float], n: int) -> float:
    """Total variation between the empirical distribution ``counts / n`` and ``exact`` (over exact's support)."""
    return 0.5 * sum(abs(counts.get(s, 0) / n - p) for s, p in exact.items())


def tv_tolerance(exact_or_cells: Mapping[Any, float] | int, n: int, delta: float = 1e-4) -> float:
    """A bound the TV of ``n`` samples exceeds with probability below ``delta``.

    With the exact distribution: E[TV] <= 1/2 sum sqrt(p(1-p)/n) (Jensen); with only a cell count:
    E[TV] <= 1/2 sqrt(cells/n) (Cauchy-Schwarz). Either plus McDiarmid's deviation sqrt(ln(1/delta) / 2n).
    """
    if isinstance(exact_or_cells, int):
        mean = 0.5 * math.sqrt(exact_or_cells / n)
    else:
        mean = 0.5 * sum(math.sqrt(p * (1 - p) / n) for p in exact_or_cells.values())
    return mean + math.sqrt(math.log(1 / delta) / (2 * n))
