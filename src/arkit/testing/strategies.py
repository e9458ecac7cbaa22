"""Hypothesis strategies for testing arkit components.

The contracts in :mod:`arkit.testing.contracts` are built on these; plugin authors
reuse them in their own property tests::

    from hypothesis import given
    from arkit.testing import strategies as ast

    @given(ids=ast.token_ids(259, max_size=64))
    def test_decode_never_raises(ids):
        my_tokenizer.decode(ids)

Tensors are drawn as a few hypothesis choices (shape, scale, masking, a seed) and
filled by a seeded ``torch.Generator``: cheap for large shapes, reproducible, and
hypothesis still shrinks the shape and the choices.
"""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st
import torch

__all__ = ["contexts", "logits", "prompt_batches", "token_ids"]

_SEEDS = st.integers(0, 2**32 - 1)


def _check_vocab(vocab_size: int) -> None:
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 1:
        raise ValueError(f"vocab_size must be an integer >= 1, got {vocab_size!r}")


def token_ids(
    vocab_size: int, min_size: int = 0, max_size: int = 32, *, often: Sequence[int] = ()
) -> st.SearchStrategy[list[int]]:
    """Lists of ``min_size`` to ``max_size`` token ids, each in ``[0, vocab_size)``.

    ``often``: ids to draw far more often than uniformly (special tokens, the last
    id), so that code paths they take are exercised in few examples.
    """
    _check_vocab(vocab_size)
    ids = st.integers(0, vocab_size - 1)
    if often:
        if any(not 0 <= i < vocab_size for i in often):
            raise ValueError(f"`often` ids must lie in [0, {vocab_size}), got {list(often)}")
        ids = st.one_of(ids, st.sampled_from(sorted(set(often))))
    return st.lists(ids, min_size=min_size, max_size=max_size)


@st.composite
def logits(
    draw: st.DrawFn,
    batch: int | None = None,
    vocab: int | None = None,
    *,
    masked: bool = True,
    max_batch: int = 4,
    max_vocab: int = 64,
) -> torch.Tensor:
    """A float32 ``Tensor[B, V]`` of logits.

    ``batch`` and ``vocab`` fix ``B`` and ``V``; otherwise they are drawn from
    ``1..max_batch`` and ``2..max_vocab``. Scales range from nearly flat (0.1) to
    very peaked (30); some draws round the values so that rows have ties. With
    ``masked`` (the default) some draws set entries to ``-inf``, but every row
    keeps at least one finite entry (its maximum).
    """
    B = batch if batch is not None else draw(st.integers(1, max_batch))
    V = vocab if vocab is not None else draw(st.integers(2, max_vocab))
    if B < 1 or V < 1:
        raise ValueError(f"logits need batch >= 1 and vocab >= 1, got {B} and {V}")
    scale = draw(st.sampled_from([1.0, 0.1, 5.0, 30.0]))
    g = torch.Generator().manual_seed(draw(_SEEDS))
    values = torch.randn(B, V, generator=g) * scale
    if draw(st.booleans()):
        values = values.round()  # ties, including ties for the maximum
    if masked and draw(st.booleans()):
        density = draw(st.sampled_from([0.5, 0.1, 0.9]))
        mask = torch.rand(B, V, generator=g) < density
        mask[torch.arange(B), values.argmax(-1)] = False  # never a row of -inf only
        values = values.masked_fill(mask, float("-inf"))
    return values.to(torch.float32)


@st.composite
def contexts(
    draw: st.DrawFn, batch: int, vocab: int, *, min_len: int = 0, max_len: int = 12
) -> torch.Tensor:
    """A ``LongTensor[batch, S]`` of context tokens, right-aligned as samplers and drafters get them.

    Each row holds ``min_len`` to ``S`` ids in ``[0, vocab)`` at its end and ``-1``
    ("no token") before its start; ``S`` is the longest row.
    """
    _check_vocab(vocab)
    rows = [draw(token_ids(vocab, min_size=min_len, max_size=max_len)) for _ in range(batch)]
    width = max((len(r) for r in rows), default=0)
    return torch.tensor([[-1] * (width - len(r)) + r for r in rows], dtype=torch.long).reshape(batch, width)


@st.composite
def prompt_batches(
    draw: st.DrawFn, vocab_size: int, *, max_batch: int = 3, min_len: int = 1, max_len: int = 12
) -> list[list[int]]:
    """A batch (``1..max_batch`` rows) of prompts of ``min_len..max_len`` ids, lengths differing."""
    B = draw(st.integers(1, max_batch))
    return [draw(token_ids(vocab_size, min_size=min_len, max_size=max_len)) for _ in range(B)]
