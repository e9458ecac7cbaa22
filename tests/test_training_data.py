"""Training data: packing keeps every prediction and no cross-document attention; order and shards are exact."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
import pytest
import torch

import arkit
from arkit.training.data import (
    IGNORE, Source, attention_mask, collate, pack, shard_indices, shard_slice, shuffled_indices,
)

docs_strategy = st.lists(st.lists(st.integers(0, 50), min_size=0, max_size=40), min_size=0, max_size=12)


def _pairs(rows: list) -> list[tuple[int, int]]:
    return [(i, t) for r in rows for i, t, s in zip(r.inputs, r.targets, r.segments) if s > 0]


@given(docs=docs_strategy, seq_len=st.integers(1, 20), overflow=st.sampled_from(["split", "truncate"]))
def test_packing_keeps_every_prediction_in_order(docs: list[list[int]], seq_len: int, overflow: str) -> None:
    rows = list(pack(docs, seq_len, overflow=overflow, pad_id=99))  # type: ignore[arg-type]
    kept = [d if overflow == "split" else d[: seq_len + 1] for d in docs]
    expected = [(a, b) for d in kept for a, b in zip(d[:-1], d[1:])]
    assert _pairs(rows) == expected  # the round trip: every (input, next token) pair, nothing else
    for r in rows:
        assert len(r.inputs) == len(r.targets) == len(r.positions) == len(r.segments) == seq_len
        for i, s in enumerate(r.segments):
            if s == 0:  # padding: scores nothing, only at the end of a row
                assert r.targets[i] == IGNORE and r.inputs[i] == 99 and all(x == 0 for x in r.segments[i:])
            else:  # positions restart at 0 in each segment
                assert r.positions[i] == (r.positions[i - 1] + 1 if i and r.segments[i - 1] == s else 0)
    if overflow == "split":
        assert all(0 not in r.segments for r in rows[:-1])  # no padding but in the last row


@given(docs=docs_strategy, seq_len=st.integers(2, 16))
def test_the_mask_is_block_diagonal_and_causal(docs: list[list[int]], seq_len: int) -> None:
    rows = list(pack(docs, seq_len))
    if not rows:
        return
    batch = collate(rows)
    mask = attention_mask(batch.segments)
    if mask is None:
        assert bool((batch.segments == 1).all())
        return
    seg = batch.segments
    T = seq_len
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    expected = (seg[:, :, None] == seg[:, None, :]) & (j <= i)
    assert torch.equal(mask, expected)
    assert bool(mask.diagonal(dim1=1, dim2=2).all())  # every position sees itself: no empty softmax rows


def test_packed_rows_give_the_same_logits_as_separate_documents() -> None:
    torch.manual_seed(0)
    backbone = arkit.create("backbone", "core/transformer", vocab_size=64, d_model=32, n_layers=2, n_heads=2,
                            max_seq_len=32).eval()
    docs = [[1, 5, 9, 2], [3, 4], [7, 8, 9, 10, 11]]
    row = collate(list(pack(docs, 16)))
    with torch.no_grad():
        packed = backbone(row.inputs, positions=row.positions, attention_mask=attention_mask(row.segments))
        start = 0
        for d in docs:
            n = len(d) - 1
            alone = backbone(torch.tensor([d[:-1]]), positions=torch.arange(n)[None])
            torch.testing.assert_close(packed[:, start : start + n], alone, atol=1e-5, rtol=1e-5)
            start += n


@given(n=st.integers(0, 200), seed=st.integers(0, 10**6), epoch=st.integers(0, 5))
def test_shuffling_is_a_permutation_fixed_by_seed_and_epoch(n: int, seed: int, epoch: int) -> None:
    order = shuffled_indices(n, seed, epoch)
    assert sorted(order) == list(range(n)) and order == shuffled_indices(n, seed, epoch)


def test_epochs_and_seeds_give_different_orders() -> None:
    assert shuffled_indices(100, 0, 0) != shuffled_indices(100, 0, 1) != shuffled_indices(100, 1, 1)


@given(items=st.lists(st.integers(), max_size=60), seed=st.integers(0, 100), buffer=st.integers(1, 20))
def test_streaming_shuffle_is_a_seeded_permutation(items: list[int], seed: int, buffer: int) -> None:
    def order() -> list[int]:
        return [x for _, x in Source(iter(items), seed=seed, shuffle=True, shuffle_buffer=buffer).train_items(0)]

    assert order() == order() and sorted(order()) == sorted(items)


@given(n=st.integers(0, 300), world=st.integers(1, 8))
def test_shards_are_disjoint_and_cover_everything(n: int, world: int) -> None:
    shards = [list(shard_indices(n, r, world)) for r in range(world)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == list(range(n)) and len(flat) == len(set(flat))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    m = n * world
    slices = [list(range(m))[shard_slice(m, r, world)] for r in range(world)]
    assert [i for s in slices for i in s] == list(range(m))


def test_bad_shards() -> None:
    with pytest.raises(arkit.ConfigError):
        shard_indices(10, 3, 3)
    with pytest.raises(arkit.ConfigError):
        shard_slice(10, 0, 3)


@given(n=st.integers(2, 80), fraction=st.floats(0.05, 0.9))
def test_held_out_items_never_train(n: int, fraction: float) -> None:
    for data in (list(range(n)), _Reiterable(n)):  # map-style, streaming
        source = Source(data, seed=1, shuffle=True, shuffle_buffer=7, eval_fraction=fraction)
        train = {x for _, x in source.train_items(0)}
        held = {x for _, x in source.eval_items()}
        assert train and not train & held and train | held == set(range(n))
        if isinstance(data, list):
            assert len(held) == min(n - 1, max(1, round(fraction * n)))


class _Reiterable:
    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(range(self.n))
