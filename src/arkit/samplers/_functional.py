"""Pure functions behind the built-in samplers: logits in, processed scores out.

Every function returns a new tensor (inputs are never modified) and marks ids
outside the support with ``-inf``. Shapes: ``scores [B, V]``, ``tokens [B, S]``
where ``-1`` in ``tokens`` means "no token" (left padding).
"""

from __future__ import annotations

import torch

NEG_INF = float("-inf")


def temperature(scores: torch.Tensor, t: float) -> torch.Tensor:
    return scores / t


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` highest scores per row (ties with the k-th are kept)."""
    if k >= scores.shape[-1]:
        return scores
    kth = torch.topk(scores, k, dim=-1).values[..., -1:]
    return scores.masked_fill(scores < kth, NEG_INF)


def top_p(scores: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely ids whose probability reaches ``p``."""
    if p >= 1.0:
        return scores
    sorted_scores, order = torch.sort(scores, dim=-1, descending=True)
    probs = sorted_scores.softmax(dim=-1)
    # drop an id when the ids before it already reach p (the most likely id always stays)
    drop_sorted = (probs.cumsum(dim=-1) - probs) >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def min_p(scores: torch.Tensor, p: float) -> torch.Tensor:
    """Keep ids whose probability is at least ``p`` times the most likely id's."""
    log_probs = scores.log_softmax(dim=-1)
    threshold = log_probs.max(dim=-1, keepdim=True).values + torch.log(torch.tensor(p, dtype=scores.dtype))
    return scores.masked_fill(log_probs < threshold, NEG_INF)


def typical(scores: torch.Tensor, mass: float) -> torch.Tensor:
    """Locally typical sampling: keep the ids whose surprisal is closest to the entropy, up to ``mass``."""
    if mass >= 1.0:
        return scores
    log_probs = scores.log_softmax(dim=-1)
    probs = log_probs.exp()
    entropy = -(probs * log_probs.nan_to_num(neginf=0.0)).sum(dim=-1, keepdim=True)
    distance = (-log_probs - entropy).abs()
    sorted_distance, order = torch.sort(distance, dim=-1)
    sorted_probs = probs.gather(-1, order)
    drop_sorted = (sorted_probs.cumsum(dim=-1) - sorted_probs) >= mass
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return scores.masked_fill(drop, NEG_INF)


def seen_ids(tokens: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """``BoolTensor[B, V]``: which ids occur in each row's context (``-1`` entries are no token)."""
    counts = torch.zeros(tokens.shape[0], vocab_size, dtype=torch.int32, device=tokens.device)
    counts.scatter_add_(-1, tokens.clamp(min=0), (tokens >= 0).to(torch.int32))
    return counts > 0


def repetition_penalty(scores: torch.Tensor, tokens: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL's penalty: ids already in the context get positive scores divided, negative multiplied."""
    if tokens.numel() == 0:
        return scores
    penalised = torch.where(scores > 0, scores / penalty, scores * penalty)
    return torch.where(seen_ids(tokens, scores.shape[-1]), penalised, scores)


def no_repeat_ngram(scores: torch.Tensor, tokens: torch.Tensor, n: int) -> torch.Tensor:
    """Forbid any id that would complete an n-gram already present in the row's tokens."""
    banned = torch.zeros_like(scores, dtype=torch.bool)
    for b, full_row in enumerate(tokens.tolist()):
        row = [t for t in full_row if t >= 0]  # padding (-1) only precedes a row's start
        S = len(row)
        if S < n:
            continue
        prefix = tuple(row[S - n + 1 :]) if n > 1 else ()
        for i in range(S - n + 1):
            if tuple(row[i : i + n - 1]) == prefix:
                banned[b, row[i + n - 1]] = True
    return scores.masked_fill(banned, NEG_INF)
