"""Objectives beyond next-token text: next-scale maps through Pipeline.fit, and learned tokenizers fitted first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import torch

import arkit
from arkit import NextScaleSchedule, generate_next_scale
from arkit.training.data import attention_mask, collate, scale_rows

from .helpers import tiny_pipeline

SCHEDULE = NextScaleSchedule((1, 2, 4))


def _maps(label: str) -> list[list[list[int]]]:
    """A class-dependent token map per scale: scale k of class c is filled with c + k (+1 on the diagonal)."""
    base = ord(label)
    return [[[base + k + (i == j) for j in range(side)] for i in range(side)] for k, side in enumerate(SCHEDULE.sides)]


def test_scale_rows_carry_the_schedules_block_causal_mask() -> None:
    pipe = tiny_pipeline()
    rows = list(scale_rows(enumerate([("a", _maps("a"))]), pipe.encode, SCHEDULE, seq_len=30, pad_id=0))
    batch = collate(rows)
    prompt = len(pipe.encode("a"))
    n = prompt + SCHEDULE.input_length
    mask = attention_mask(batch.segments, batch.blocks)[0, :n, :n]
    assert torch.equal(mask, SCHEDULE.attention_mask(prompt))
    assert batch.targets[0, prompt - 1] == _maps("a")[0][0][0]  # the prompt's last position predicts scale 1 x 1
    assert (batch.segments[0, n:] == 0).all()


def test_fit_learns_next_scale_prediction() -> None:
    pipe = tiny_pipeline()
    labels = "abcd"
    data = [(c, _maps(c)) for c in labels] * 4
    result = pipe.fit(data, arkit.TrainConfig(steps=60, batch_size=8, seq_len=32, lr=3e-3, warmup_steps=5,
                                              progress=False), schedule=SCHEDULE)
    assert result.losses[-1] < 0.3 * result.losses[0]
    maps, calls = generate_next_scale(pipe, [pipe.encode(c) for c in labels], SCHEDULE, arkit.GenerationConfig(seed=0))
    assert calls == len(SCHEDULE.sides)
    hits = sum(int((maps[k][i] == torch.tensor(_maps(c)[k])).sum()) for i, c in enumerate(labels) for k in range(3))
    assert hits / (len(labels) * SCHEDULE.num_tokens) > 0.9


def test_next_scale_items_are_checked() -> None:
    pipe = tiny_pipeline()
    with pytest.raises(arkit.InputError, match="item 0 must be a \\(prompt, maps\\) pair"):
        pipe.fit(["just text"], steps=1, seq_len=32, progress=False, schedule=SCHEDULE)
    with pytest.raises(arkit.InputError, match="item 0: expected 3 token maps"):
        pipe.fit([("a", _maps("a")[:2])], steps=1, seq_len=32, progress=False, schedule=SCHEDULE)
    with pytest.raises(arkit.InputError, match="raise it"):
        pipe.fit([("a", _maps("a"))], steps=1, seq_len=8, progress=False, schedule=SCHEDULE)


class FrequencyCodes:
    """A learned tokenizer: the 15 most frequent characters of the training data get codes 1..15, the rest 0."""

    vocab_size = 16
    special_tokens: Mapping[str, int] = {}
    lossless = False

    def __init__(self, alphabet: str = "") -> None:
        self.alphabet = alphabet
        self.fitted = bool(alphabet)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"alphabet": self.alphabet}

    def fit(self, items: Sequence[str]) -> None:
        counts: dict[str, int] = {}
        for text in items:
            for ch in text:
                counts[ch] = counts.get(ch, 0) + 1
        self.alphabet = "".join(sorted(counts, key=lambda c: (-counts[c], c))[:15])
        self.fitted = True

    def encode(self, item: str) -> list[int]:
        return [self.alphabet.find(ch) + 1 for ch in item]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.alphabet[i - 1] if 0 < i <= len(self.alphabet) else "?" for i in ids)


def test_a_learned_tokenizer_is_fitted_before_the_backbone() -> None:
    torch.manual_seed(0)
    pipe = arkit.Pipeline(tokenizer=FrequencyCodes(),
                          backbone=arkit.create("backbone", "core/transformer", vocab_size=16, d_model=32, n_layers=1,
                                                n_heads=2, max_seq_len=64),
                          head=arkit.create("head", "core/categorical", d_model=32, vocab_size=16))
    data = ["abracadabra " * 4, "banana bandana " * 3]
    result = pipe.fit(data, steps=20, seq_len=32, batch_size=4, progress=False)
    assert pipe.tokenizer.fitted and pipe.tokenizer.alphabet.startswith("a")
    assert result.losses[-1] < result.losses[0]
    fresh = pipe.replace(tokenizer=FrequencyCodes())
    with pytest.raises(arkit.ConfigError, match="pass a list"):
        fresh.fit(iter(data), steps=1, seq_len=32, progress=False)


def test_a_continuous_pipeline_trains_by_negative_log_likelihood() -> None:
    """Real vectors in (core/vectors), a Gaussian mixture out: Pipeline.fit minimises the NLL of each next value."""
    torch.manual_seed(0)
    pipe = arkit.Pipeline(tokenizer=arkit.create("tokenizer", "core/vectors", dim=1),
                          backbone=arkit.create("backbone", "core/transformer", vocab_size=1, d_model=32, n_layers=2,
                                                n_heads=2, input_dim=1, max_seq_len=64),
                          head=arkit.create("head", "core/gaussian-mixture", d_model=32, dim=1, components=2))
    g = torch.Generator().manual_seed(1)
    series = [(torch.sin(torch.arange(40) * 0.5 + float(torch.rand(1, generator=g)) * 6) +
               0.05 * torch.randn(40, generator=g)).tolist() for _ in range(24)]
    result = pipe.fit(series, steps=60, seq_len=32, batch_size=8, lr=3e-3, warmup_steps=5, progress=False)
    assert result.losses[-1] < result.losses[0] - 1.0  # nats per value
    context = torch.tensor(series[0][:20])[None, :, None]
    with torch.no_grad():
        mean = pipe.head(pipe.backbone(context, positions=torch.arange(20)[None])).mean[0, -1, 0]
    assert abs(float(mean) - series[0][20]) < 0.3  # the next value of the sine, within its noise and the fit's error
    with pytest.raises(arkit.ConfigError, match="generate_continuous"):
        pipe.generate(prompt_ids=[[0]])
    with pytest.raises(arkit.InputError, match="NaN"):
        pipe.fit([[1.0, float("nan"), 2.0]], steps=1, seq_len=8, progress=False)
