"""Pipeline composition and the generation loop."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, strategies as st

import arkit
from tests.helpers import tiny_pipeline


def test_compose_from_registry_names_and_generate() -> None:
    pipe = arkit.Pipeline(
        tokenizer=arkit.create("tokenizer", "core/byte"),
        backbone=arkit.create("backbone", "core/transformer", vocab_size=259, d_model=64, n_layers=1, n_heads=2),
        head=arkit.create("head", "core/categorical", d_model=64, vocab_size=259),
    )
    assert pipe.sampler.deterministic  # the default sampler is greedy
    out = pipe.generate(["hello", "a"], max_new_tokens=5, eos_token_ids=())
    assert [len(s) for s in out.sequences] == [5, 5]
    assert out.finish_reasons == ("length", "length")
    assert out.prompt_lengths == (6, 2)  # bos + bytes
    assert all(isinstance(d, str) for d in out.decoded)
    assert out.num_steps == 5


def test_padded_batch_matches_rows_generated_alone() -> None:
    pipe = tiny_pipeline()
    prompts = ["a longer prompt here", "hi", "mid length"]
    batch = pipe.generate(prompts, max_new_tokens=8, eos_token_ids=())
    for row, prompt in enumerate(prompts):
        alone = pipe.generate([prompt], max_new_tokens=8, eos_token_ids=())
        assert alone.sequences[0] == batch.sequences[row]


@given(split=st.integers(1, 7), length=st.integers(2, 12))
def test_cached_decoding_matches_full_recompute_on_logits(split: int, length: int) -> None:
    """Regression test for the top-left-aligned causal mask pitfall: compare logits, not tokens."""
    pipe = tiny_pipeline()
    ids = torch.randint(0, 259, (2, length), generator=torch.Generator().manual_seed(length))
    positions = torch.arange(length).expand(2, -1)
    full = pipe.head(pipe.backbone(ids, positions=positions))
    cache = arkit.create("cache", "core/dynamic")
    cache.allocate(pipe.backbone.cache_spec(), batch_size=2, max_len=length, dtype=torch.float32, device="cpu")
    split = min(split, length - 1)
    first = pipe.head(pipe.backbone(ids[:, :split], positions=positions[:, :split], cache=cache))
    rest = pipe.head(pipe.backbone(ids[:, split:], positions=positions[:, split:], cache=cache))
    torch.testing.assert_close(torch.cat([first, rest], 1), full, atol=1e-5, rtol=1e-4)


def test_stream_yields_the_same_tokens_as_generate_per_row() -> None:
    pipe = tiny_pipeline("core/multinomial", temperature=1.0)
    prompts = ["one", "three"]
    out = pipe.generate(prompts, max_new_tokens=6, seed=3, eos_token_ids=())
    rows: dict[int, list[int]] = {0: [], 1: []}
    last: dict[int, arkit.GenerationEvent] = {}
    for event in pipe.stream(prompts, max_new_tokens=6, seed=3, eos_token_ids=()):
        assert event.index == len(rows[event.row])
        rows[event.row].append(event.token_id)
        last[event.row] = event
    assert tuple(tuple(rows[r]) for r in (0, 1)) == out.sequences
    assert {e.finish_reason for e in last.values()} == {"length"}


def test_same_seed_same_samples_different_seed_different_samples() -> None:
    pipe = tiny_pipeline("core/multinomial", temperature=1.0)
    a = pipe.generate(["x"], max_new_tokens=20, seed=1)
    b = pipe.generate(["x"], max_new_tokens=20, seed=1)
    c = pipe.generate(["x"], max_new_tokens=20, seed=2)
    assert a.sequences == b.sequences
    assert a.sequences != c.sequences


def test_temperature_zero_is_greedy() -> None:
    pipe = tiny_pipeline()
    greedy = pipe.generate(["abc"], max_new_tokens=10)
    cold = pipe.replace(sampler=arkit.create("sampler", "core/multinomial", temperature=0.0))
    assert cold.generate(["abc"], max_new_tokens=10, seed=5).sequences == greedy.sequences


def test_eos_stops_a_row_and_is_reported() -> None:
    pipe = tiny_pipeline()
    first = pipe.generate(["abc"], max_new_tokens=3, eos_token_ids=()).sequences[0]
    out = pipe.generate(["abc"], max_new_tokens=10, eos_token_ids=(first[1],))
    assert out.sequences[0] == first[:2]
    assert out.finish_reasons == ("eos",)


def test_max_length_caps_prompt_plus_generation() -> None:
    out = tiny_pipeline().generate(["abcd"], max_new_tokens=50, max_length=8, eos_token_ids=())
    assert len(out.sequences[0]) == 3  # 5 prompt tokens (bos + 4) + 3 = 8
    assert out.finish_reasons == ("max_length",)


def test_logprobs_are_returned_per_token() -> None:
    out = tiny_pipeline().generate(["ab", "abc"], max_new_tokens=4, output_logprobs=True, eos_token_ids=())
    assert out.logprobs is not None
    assert [len(lp) for lp in out.logprobs] == [4, 4]
    assert all(lp <= 0.0 for row in out.logprobs for lp in row)


def test_prompt_ids_and_zero_new_tokens() -> None:
    pipe = tiny_pipeline()
    out = pipe.generate(prompt_ids=[[256, 104, 105]], max_new_tokens=0)
    assert out.sequences == ((),) and out.finish_reasons == ("length",)


def test_replace_swaps_one_component() -> None:
    pipe = tiny_pipeline()
    other = pipe.replace(sampler=arkit.create("sampler", "core/multinomial"))
    assert other.backbone is pipe.backbone and other.sampler is not pipe.sampler
    with pytest.raises(arkit.ConfigError, match="no component"):
        pipe.replace(decoder=None)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"prompts": ["x" * 200]}, arkit.InputError, "context"),
        ({"prompts": []}, arkit.InputError, "no prompts"),
        ({"prompt_ids": [[]]}, arkit.InputError, "empty"),
        ({"prompt_ids": [[1, 9999]]}, arkit.InputError, "vocabulary"),
        ({"prompts": ["x"], "max_new_tokens": -1}, arkit.ConfigError, "max_new_tokens"),
        ({"prompts": ["x"], "max_tokens": 3}, arkit.ConfigError, "max_new_tokens"),
        ({"prompts": [3.5]}, arkit.InputError, "str or bytes"),
        ({"prompts": ["x"], "prompt_ids": [[1]]}, arkit.InputError, "not both"),
    ],
)
def test_bad_generation_input_raises_arkit_errors(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        tiny_pipeline().generate(**kwargs)


def test_nan_logits_raise_a_generation_error() -> None:
    pipe = tiny_pipeline()
    with torch.no_grad():
        pipe.head.proj.weight.fill_(float("nan"))
    with pytest.raises(arkit.GenerationError, match="NaN"):
        pipe.generate(["x"], max_new_tokens=2)


def test_mismatched_components_are_rejected() -> None:
    tok = arkit.create("tokenizer", "core/byte")
    backbone = arkit.create("backbone", "core/transformer", vocab_size=259, d_model=64, n_layers=1, n_heads=2)
    with pytest.raises(arkit.ConfigError, match="vocab_size"):
        arkit.Pipeline(tokenizer=tok, backbone=backbone, head=arkit.create("head", "core/categorical", d_model=64))
    with pytest.raises(arkit.ConfigError, match="d_model"):
        arkit.Pipeline(tokenizer=tok, backbone=backbone, head=arkit.create("head", "core/categorical", vocab_size=259))
    with pytest.raises(arkit.ComponentProtocolError, match="tokenizer"):
        arkit.Pipeline(tokenizer=object(), backbone=backbone, head=arkit.create("head", "core/categorical"))


def test_a_drafter_with_another_vocabulary_is_refused() -> None:
    drafter = arkit.create("drafter", "core/prompt-lookup")
    drafter.vocab_size = 7  # a draft model over some other tokenizer
    with pytest.raises(arkit.ConfigError, match="share a tokenizer"):
        tiny_pipeline().replace(drafter=drafter)
