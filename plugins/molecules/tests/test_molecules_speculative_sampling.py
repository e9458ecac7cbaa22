"""Sampling-mode losslessness of speculative decoding under the SMILES constraint.

A tiny seeded random model over a four-token alphabet (C, O, =, 1) with a budget of six
tokens: the constraint admits about a hundred complete molecules, so the exact distribution
of constrained sequences can be enumerated path by path. Plain sampling and speculative
sampling (a drafter whose proposals ignore the target and the constraint, accepted by
``core/exact``) must both match it within a total-variation tolerance derived from the
sample size; a lossy acceptance rule must not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
import functools
import math
from typing import Any

import pytest
import torch

import arkit
from arkit_molecules import SmilesConstraint, SmilesTokenizer

torch.set_num_threads(1)

BUDGET = 6  # tokens, the end token included: enough for a three-membered ring (C1CC1)
N = 6_000  # samples per distribution: a few seconds each with 1 thread
PROMPT = [1]  # bos


class PoorDrafter:
    """Draws each token from a fixed distribution unrelated to the target (and says so through ``probs``)."""

    config: dict = {}

    def __init__(self, probs: list[float], seed: int = 0) -> None:
        self.p = torch.tensor(probs)
        self.generator = torch.Generator().manual_seed(seed)

    def propose(self, tokens: torch.Tensor, k: int) -> arkit.Draft:
        rows = tokens.shape[0]
        drafted = torch.multinomial(self.p.expand(rows * k, -1), 1, replacement=True, generator=self.generator)
        return arkit.Draft(tokens=drafted.view(rows, k), probs=self.p.expand(rows, k, -1).clone())


@functools.lru_cache(maxsize=1)
def target() -> arkit.Pipeline:
    tok = SmilesTokenizer(alphabet=["C", "O", "=", "1"])  # ids: pad 0, bos 1, eos 2, then C O = 1
    torch.manual_seed(3)
    return arkit.Pipeline(
        tokenizer=tok,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=tok.vocab_size, d_model=16, n_layers=1,
                              n_heads=2, max_seq_len=16, init_std=0.6),
        head=arkit.create("head", "core/categorical", d_model=16, vocab_size=tok.vocab_size, init_std=0.6),
        sampler=arkit.create("sampler", "core/multinomial", temperature=0.9),
    )


def constraint() -> SmilesConstraint:
    return SmilesConstraint(target().tokenizer, max_tokens=BUDGET)


@functools.lru_cache(maxsize=1)
def exact() -> dict[tuple[int, ...], float]:
    """P(sequence) of every complete constrained sequence: the model's masked, sampler-processed softmax, path by path."""
    pipe, con = target(), constraint()
    vocab = pipe.tokenizer.vocab_size
    dist: dict[tuple[int, ...], float] = {}

    def walk(seq: list[int], state: Any, p: float) -> None:
        ids = torch.tensor([PROMPT + seq])
        with torch.no_grad():
            logits = pipe.head(pipe.backbone(ids, positions=torch.arange(ids.shape[1])[None]))[:, -1]
        allowed = con.allowed(state)
        forbidden = torch.ones(vocab, dtype=torch.bool)
        forbidden[allowed] = False
        probs = pipe.sampler.process(logits.masked_fill(forbidden, float("-inf")), ids).softmax(-1)[0]
        for token in allowed:
            q = p * float(probs[token])
            if token == con.eos:
                dist[(*seq, token)] = q
            else:
                walk([*seq, token], con.advance(state, token), q)

    walk([], con.start(), 1.0)
    return dist


def sample(pipe: arkit.Pipeline, seed: int, **kwargs: Any) -> Counter[tuple[int, ...]]:
    out = pipe.generate(prompt_ids=[PROMPT] * N, constraint=constraint(), max_new_tokens=BUDGET, seed=seed, **kwargs)
    return Counter(tuple(s) for s in out.sequences)


def tv_distance(counts: Mapping[tuple[int, ...], int], exact: Mapping[tuple[int, ...], float], n: int) -> float:
    """Total variation between ``counts / n`` and ``exact``; mass outside exact's support counts in full."""
    inside = sum(abs(counts.get(s, 0) / n - p) for s, p in exact.items())
    outside = sum(c / n for s, c in counts.items() if s not in exact)
    return 0.5 * (inside + outside)


def tv_tolerance(exact: Mapping[tuple[int, ...], float], n: int, delta: float = 1e-4) -> float:
    """A bound the TV of ``n`` exact samples exceeds with probability below ``delta``.

    E[TV] <= 1/2 sum sqrt(p(1-p)/n) (Jensen), plus McDiarmid's deviation sqrt(ln(1/delta) / 2n).
    """
    mean = 0.5 * sum(math.sqrt(p * (1 - p) / n) for p in exact.values())
    return mean + math.sqrt(math.log(1 / delta) / (2 * n))


def test_the_exact_distribution_covers_only_valid_molecules() -> None:
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    dist, tok = exact(), target().tokenizer
    assert sum(dist.values()) == pytest.approx(1.0, abs=1e-5)
    assert len(dist) > 100 and max(dist.values()) < 0.5  # a spread-out distribution, not a near-deterministic one
    assert all(Chem.MolFromSmiles(tok.decode(list(s))) is not None for s in dist)


def test_plain_constrained_sampling_matches_the_enumerated_distribution() -> None:
    counts = sample(target(), seed=0)
    assert tv_distance(counts, exact(), N) < tv_tolerance(exact(), N)


def test_speculative_sampling_under_the_constraint_is_lossless() -> None:
    """Drafts often break the grammar (ring digits, '=' at the end, ...): the constraint and core/exact repair them."""
    vocab = target().tokenizer.vocab_size
    drafter = PoorDrafter([0.0, 0.0, 0.1, 0.2, 0.2, 0.2, 0.3])  # eos and the ring digit over-proposed
    assert len(drafter.p) == vocab
    pipe = target().replace(drafter=drafter, acceptance=arkit.create("acceptance", "core/exact"))
    out = pipe.generate(prompt_ids=[PROMPT] * N, constraint=constraint(), max_new_tokens=BUDGET, seed=1,
                        num_draft_tokens=3, draft_schedule="constant")  # every pass drafts: the rule is what is tested
    counts = Counter(tuple(s) for s in out.sequences)
    assert set(counts) <= set(exact()), "a sequence the constraint forbids was generated"
    assert out.speculative is not None and 0 < out.speculative.accepted < out.speculative.drafted
    assert tv_distance(counts, exact(), N) < tv_tolerance(exact(), N)


def test_the_distribution_test_detects_a_lossy_rule() -> None:
    """Typical acceptance with tiny thresholds keeps almost any (allowed) draft: the same check must reject it."""
    pipe = target().replace(
        drafter=PoorDrafter([0.0, 0.0, 0.2, 0.2, 0.2, 0.2, 0.2]),
        acceptance=arkit.create("acceptance", "core/typical-acceptance", posterior_threshold=0.001,
                                posterior_alpha=0.001),
    )
    counts = sample(pipe, seed=1, num_draft_tokens=3, draft_schedule="constant")
    assert tv_distance(counts, exact(), N) > tv_tolerance(exact(), N)
