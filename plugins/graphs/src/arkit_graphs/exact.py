"""The exact-distribution test on the graph atlas: sampled graphs against exactly computed probabilities.

For a pipeline over ``graphs/bfs-adjacency`` tokens and a constraint that fixes the node
count (``min_nodes == max_nodes == N``), the set of token sequences the sampler can emit is
finite. :func:`exact_graph_probabilities` enumerates it (depth first, through the
constraint's ``allowed`` sets), scores every sequence with one teacher-forced pass
(the constraint's mask, then the sampler's processors, renormalised: exactly what the
decode loop samples from) and adds the probabilities of the sequences that decode to each
isomorphism class. :func:`chi_square_test` then samples graphs through the real generation
loop (plain, speculative, or with any sampler) and tests the counts against those
probabilities with Pearson's chi-square. A lossless sampler is not rejected; a biased one
(another temperature) is.

The probabilities are the *model's*; how close the model is to the training target (uniform
over the atlas graphs) is reported separately (:func:`total_variation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import numpy as np
import torch

import arkit
from arkit import ConfigError

from .graph import Graph
from .sampling import sample_graphs

__all__ = ["ChiSquareResult", "chi_square_test", "enumerate_sequences", "exact_graph_probabilities",
           "total_variation"]


def enumerate_sequences(constraint: Any, eos: int, *, limit: int = 100_000) -> list[list[int]]:
    """Every token sequence (ending in ``eos``) the constraint allows, depth first."""
    out: list[list[int]] = []
    stack: list[tuple[Any, list[int]]] = [(constraint.start(), [])]
    while stack:
        state, prefix = stack.pop()
        allowed = constraint.allowed(state)
        ids = allowed.nonzero().flatten().tolist() if isinstance(allowed, torch.Tensor) else list(allowed)
        for token in ids:
            if token == eos:
                out.append(prefix + [eos])
            else:
                stack.append((constraint.advance(state, token), prefix + [token]))
        if len(out) + len(stack) > limit:
            raise ConfigError(f"the constraint allows more than {limit} sequences: fix the node count to a small N")
    return out


@torch.no_grad()
def _sequence_logprobs(pipe: arkit.Pipeline, sequences: Sequence[Sequence[int]], constraint: Any,
                       sampler: Any, batch_size: int = 512) -> np.ndarray:
    bos = pipe.tokenizer.special_tokens["bos"]
    pipe.backbone.eval()
    pipe.head.eval()
    out = np.zeros(len(sequences))
    for start in range(0, len(sequences), batch_size):
        chunk = [list(s) for s in sequences[start:start + batch_size]]
        width = max(len(s) for s in chunk)
        ids = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, s in enumerate(chunk):
            ids[r, : len(s)] = torch.tensor([bos] + s[:-1])
        positions = torch.arange(width).expand(len(chunk), width)
        logits = pipe.head(pipe.backbone(ids, positions=positions)).float()
        for r, s in enumerate(chunk):
            state, total = constraint.start(), 0.0
            for t, token in enumerate(s):
                context = ids[r: r + 1, : t + 1]
                allowed = _mask(constraint.allowed(state), logits.shape[-1])
                # as the decode loop does: the constraint's mask first, then the sampler's processors
                masked = logits[r: r + 1, t].masked_fill(~allowed, float("-inf"))
                scores = sampler.process(masked, context)[0]
                total += float(torch.log_softmax(scores, -1)[token])
                state = constraint.advance(state, token)
            out[start + r] = total
    return out


def _mask(allowed: Any, vocab: int) -> torch.Tensor:
    if isinstance(allowed, torch.Tensor):
        return allowed.to(torch.bool)
    mask = torch.zeros(vocab, dtype=torch.bool)
    mask[list(allowed)] = True
    return mask


def exact_graph_probabilities(
    pipe: arkit.Pipeline, classes: Sequence[Graph], constraint: Any, *, sampler: Any = None,
) -> np.ndarray:
    """The probability that sampling ``pipe`` under ``constraint`` yields each graph of ``classes``.

    ``classes`` must cover every graph the constrained sequences decode to (an error
    names one that is missing). ``sampler`` defaults to the pipeline's.
    """
    sampler = sampler or pipe.sampler
    eos = pipe.tokenizer.special_tokens["eos"]
    sequences = enumerate_sequences(constraint, eos)
    logp = _sequence_logprobs(pipe, sequences, constraint, sampler)
    index = _classifier(classes)
    probs = np.zeros(len(classes))
    for seq, lp in zip(sequences, logp):
        probs[index(pipe.tokenizer.parse(seq[:-1]))] += np.exp(lp)
    return probs


def _classifier(classes: Sequence[Graph]) -> Callable[[Graph], int]:
    buckets: dict[str, list[int]] = {}
    for i, g in enumerate(classes):
        buckets.setdefault(g.wl_hash, []).append(i)

    def index(graph: Graph) -> int:
        for i in buckets.get(graph.wl_hash, ()):
            if graph.isomorphic(classes[i]):
                return i
        raise ConfigError(f"{graph!r} is not among the {len(classes)} classes")

    return index


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    return float(0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum())


@attrs.frozen(kw_only=True)
class ChiSquareResult:
    """Counts of sampled graphs per class, the expected counts, Pearson's statistic and its p-value."""

    samples: int
    counts: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    dof: int
    p_value: float
    model_calls: int
    """Batched model calls (decode steps of the whole batch, prefill included)."""
    tokens: int
    elapsed_s: float
    tokens_per_row_call: float
    """Tokens a row gains per model call: 1 for plain decoding, more when drafts are accepted."""

    def as_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def chi_square_test(
    pipe: arkit.Pipeline, classes: Sequence[Graph], probabilities: np.ndarray, constraint: Any, *,
    samples: int = 2000, seed: int = 0, batch_size: int = 250, **generation: Any,
) -> ChiSquareResult:
    """Sample ``samples`` graphs from ``pipe`` under ``constraint`` and test them against ``probabilities``.

    Classes with expected count below 5 are pooled into one cell (the usual validity rule
    for Pearson's test). ``generation`` goes to ``Pipeline.generate`` (``num_draft_tokens=4``).
    """
    from scipy.stats import chisquare

    probabilities = np.asarray(probabilities, dtype=float)
    if not np.isclose(probabilities.sum(), 1.0, atol=1e-4):
        raise ConfigError(f"the probabilities sum to {probabilities.sum():.6f}, not 1: the classes miss some graphs")
    drawn = sample_graphs(pipe, samples, constraint=constraint, batch_size=batch_size, seed=seed, measure=False,
                          **generation)
    index = _classifier(classes)
    counts = np.zeros(len(classes), dtype=np.int64)
    for g in drawn.graphs:
        counts[index(g)] += 1
    expected = probabilities / probabilities.sum() * samples
    big = expected >= 5
    obs = list(counts[big]) + ([counts[~big].sum()] if (~big).any() else [])
    exp = list(expected[big]) + ([expected[~big].sum()] if (~big).any() else [])
    stat, p = chisquare(obs, exp)
    tokens = sum(len(t) for t in drawn.tokens)
    return ChiSquareResult(samples=samples, counts=tuple(int(c) for c in counts),
                           expected=tuple(float(e) for e in expected), statistic=float(stat), dof=len(obs) - 1,
                           p_value=float(p), model_calls=drawn.model_calls, tokens=tokens, elapsed_s=drawn.elapsed_s,
                           tokens_per_row_call=drawn.tokens_per_row_call or 1.0)
