"""Built-in components beyond their contracts: samplers' supports, the backbone's inputs, the tokenizer."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

import arkit

logit_rows = st.lists(st.floats(-20, 20, allow_nan=False), min_size=2, max_size=40)


@given(row=logit_rows, k=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_top_k_samples_only_from_the_k_best(row: list[float], k: int, seed: int) -> None:
    logits = torch.tensor([row])
    sampler = arkit.create("sampler", "core/multinomial", top_k=k)
    scores = sampler.process(logits, torch.zeros(1, 1, dtype=torch.long))
    kept = torch.isfinite(scores[0])
    assert kept.sum() >= min(k, len(row))  # ties at the k-th value are kept
    assert bool((logits[0][kept].min() >= torch.topk(logits[0], min(k, len(row))).values[-1]))
    token = sampler.select(scores, torch.Generator().manual_seed(seed))
    assert bool(kept[token])


@given(row=logit_rows, p=st.floats(0.01, 1.0), seed=st.integers(0, 2**16))
def test_top_p_keeps_the_smallest_set_reaching_p(row: list[float], p: float, seed: int) -> None:
    logits = torch.tensor([row], dtype=torch.float64)
    sampler = arkit.create("sampler", "core/multinomial", top_p=p)
    scores = sampler.process(logits, torch.zeros(1, 1, dtype=torch.long))
    probs = logits.softmax(-1)[0]
    kept = torch.isfinite(scores[0])
    assert probs[kept].sum() >= p - 1e-9  # the kept set reaches p ...
    smallest_kept = probs[kept].min()
    assert probs[kept].sum() - smallest_kept < p + 1e-9  # ... and dropping its least likely member would not
    assert bool(kept[probs.argmax()])
    assert bool(kept[sampler.select(scores.float(), torch.Generator().manual_seed(seed))])


def test_sampling_frequencies_follow_the_distribution() -> None:
    """n = 20,000 draws: each frequency lies within 5 standard errors of its probability."""
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    sampler = arkit.create("sampler", "core/multinomial")
    n = 20_000
    ids = sampler.select(probs.log().expand(n, -1), torch.Generator().manual_seed(0))
    freq = torch.bincount(ids, minlength=4).double() / n
    tolerance = 5 * (probs * (1 - probs) / n).sqrt()
    assert bool(((freq - probs).abs() <= tolerance).all()), freq


def test_processing_never_modifies_the_logits() -> None:
    logits = torch.randn(3, 10)
    before = logits.clone()
    arkit.create("sampler", "core/multinomial", temperature=0.7, top_k=3, top_p=0.5).process(logits, torch.zeros(3, 1))
    assert torch.equal(logits, before)


@pytest.mark.parametrize("config", [{"temperature": -1}, {"top_k": -2}, {"top_p": 0.0}, {"top_p": 1.01}])
def test_sampler_parameters_out_of_range(config: dict) -> None:
    with pytest.raises(arkit.ConfigError):
        arkit.create("sampler", "core/multinomial", **config)


def _backbone(**config: int) -> torch.nn.Module:
    return arkit.create("backbone", "core/transformer", **{"vocab_size": 32, "d_model": 32, "n_layers": 1, "n_heads": 2, "max_seq_len": 16, **config})


@pytest.mark.parametrize(
    ("ids", "positions", "match"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long), "LongTensor"),
        (torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), "LongTensor"),
        (torch.full((1, 2), 32), torch.zeros(1, 2, dtype=torch.long), "vocabulary"),
        (torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 3, dtype=torch.long), "positions"),
        (torch.zeros(1, 2, dtype=torch.long), torch.tensor([[15, 16]]), "context of 16"),
    ],
)
def test_backbone_rejects_bad_inputs(ids: torch.Tensor, positions: torch.Tensor, match: str) -> None:
    with pytest.raises(arkit.InputError, match=match):
        _backbone()(ids, positions=positions)


def test_backbone_rejects_a_mask_of_the_wrong_shape() -> None:
    with pytest.raises(arkit.InputError, match="attention_mask"):
        _backbone()(torch.zeros(1, 2, dtype=torch.long), positions=torch.zeros(1, 2, dtype=torch.long),
                    attention_mask=torch.ones(1, 2, 3, dtype=torch.bool))


def test_grouped_query_attention_shrinks_the_cache() -> None:
    full, grouped = _backbone(n_heads=4), _backbone(n_heads=4, n_kv_heads=1)
    assert grouped.cache_spec().num_kv_heads == 1 and full.cache_spec().num_kv_heads == 4
    assert sum(p.numel() for p in grouped.parameters()) < sum(p.numel() for p in full.parameters())


def test_a_fully_masked_row_stays_finite() -> None:
    """Padding rows see no key at all: the finfo.min mask keeps them finite instead of NaN."""
    mask = torch.zeros(1, 3, 3, dtype=torch.bool)
    out = _backbone()(torch.zeros(1, 3, dtype=torch.long), positions=torch.zeros(1, 3, dtype=torch.long), attention_mask=mask)
    assert torch.isfinite(out).all()


@given(text=st.text())
def test_byte_tokenizer_round_trips_any_string(text: str) -> None:
    tok = arkit.create("tokenizer", "core/byte")
    assert tok.decode(tok.encode(text)) == text


@given(data=st.binary())
def test_byte_tokenizer_round_trips_any_bytes(data: bytes) -> None:
    tok = arkit.create("tokenizer", "core/byte", mode="bytes")
    assert tok.decode(tok.encode(data)) == data


@given(ids=st.lists(st.integers(0, 258)))
def test_byte_tokenizer_decodes_whatever_a_model_generates(ids: list[int]) -> None:
    assert isinstance(arkit.create("tokenizer", "core/byte").decode(ids), str)


def test_deprecated_helper_warns_and_expires() -> None:
    @arkit.deprecated(since="0.1.0", remove_in="9.0.0", instead="new_thing")
    def old_thing() -> int:
        return 1

    with pytest.warns(arkit.ArkitDeprecationWarning, match="use new_thing instead|Use new_thing instead"):
        assert old_thing() == 1
    with pytest.raises(RuntimeError, match="remove it"):
        arkit.deprecated(since="0.0.1", remove_in="0.1.0")(lambda: None)


@given(rows=st.lists(st.lists(st.sampled_from([-1.0, 0.0, 2.0, float("-inf")]), min_size=5, max_size=5),
                     min_size=1, max_size=4))
def test_greedy_picks_the_first_maximum_and_refuses_a_row_without_support(rows: list[list[float]]) -> None:
    sampler = arkit.create("sampler", "core/greedy")
    scores = torch.tensor(rows)
    empty = [i for i, row in enumerate(rows) if all(v == float("-inf") for v in row)]
    if empty:
        with pytest.raises(arkit.GenerationError, match=f"no token for row {empty[0]}"):
            sampler.select(scores, None)
    else:
        assert sampler.select(scores, None).tolist() == [row.index(max(row)) for row in rows]


def test_dropout_acts_in_training_only_and_is_validated() -> None:
    """Residual dropout: train mode draws a mask per call; eval mode (generation, export) is the plain model."""
    torch.manual_seed(0)
    plain = _backbone()
    dropped = _backbone(dropout=0.3)
    dropped.load_state_dict(plain.state_dict())
    assert dropped.config["dropout"] == 0.3 and plain.config["dropout"] == 0.0
    ids, positions = torch.tensor([[1, 5, 9, 2]]), torch.arange(4)[None]
    plain.eval(), dropped.eval()
    torch.testing.assert_close(dropped(ids, positions=positions), plain(ids, positions=positions))
    dropped.train()
    a, b = dropped(ids, positions=positions), dropped(ids, positions=positions)
    assert not torch.allclose(a, b) and not torch.allclose(a, plain(ids, positions=positions))
    for bad in (-0.1, 1.0, True, "0.1"):
        with pytest.raises(arkit.ConfigError, match="dropout"):
            _backbone(dropout=bad)
