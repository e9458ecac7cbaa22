"""Hypothesis strategies for testing arkit components.

    from arkit.testing import strategies as ast
    @given(ids=ast.token_ids(vocab_size=259))
"""

from __future__ import annotations

from hypothesis import strategies as st
import torch

__all__ = ["logits", "prompt_batches", "token_ids"]


def token_ids(vocab_size: int, *, min_size: int = 0, max_size: int = 32) -> st.SearchStrategy[list[int]]:
    """Lists of token ids in ``[0, vocab_size)``."""
    return st.lists(st.integers(0, vocab_size - 1), min_size=min_size, max_size=max_size)


@st.composite
def logits(draw: st.DrawFn, *, batch: int | None = None, vocab: int | None = None, masked: bool = True) -> torch.Tensor:
    """A float32 ``Tensor[B, V]`` of logits; with ``masked``, some entries are ``-inf`` but never a whole row."""
    B = batch if batch is not None else draw(st.integers(1, 4))
    V = vocab if vocab is not None else draw(st.integers(2, 64))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 5.0, 30.0]))
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(B, V, generator=g) * scale
    if masked and draw(st.booleans()):
        mask = torch.rand(B, V, generator=g) < 0.5
        mask[torch.arange(B), values.argmax(-1)] = False  # keep at least one finite entry per row
        values = values.masked_fill(mask, float("-inf"))
    return values


@st.composite
def prompt_batches(draw: st.DrawFn, *, vocab_size: int, max_batch: int = 3, max_len: int = 12) -> list[list[int]]:
    """A batch of non-empty prompts of different lengths."""
    B = draw(st.integers(1, max_batch))
    return [draw(token_ids(vocab_size, min_size=1, max_size=max_len)) for _ in range(B)]
