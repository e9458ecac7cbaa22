"""The arkit contract suite over this plugin's components, their own behaviour, and a pipeline round trip.

Run with the plugin installed (``pip install -e .``): the contracts look the
components up in arkit's registry, which finds them through the entry point.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st
import pytest
import torch

import arkit
from arkit.testing import SamplerContract, TokenizerContract
from arkit_example import CharTokenizer, TopA

ALPHABET = "abc xyz"


# -- the contracts: a few lines per component -----------------------------------------
class TestCharTokenizer(TokenizerContract):
    component = "example/chars"
    config = {"alphabet": ALPHABET}
    items = st.text(alphabet=ALPHABET)
    invalid_items = st.tuples(st.text(alphabet=ALPHABET), st.sampled_from("!é\n0A")).map("".join)


class TestTopA(SamplerContract):
    component = "example/top-a"
    config = {"a": 0.3, "temperature": 0.8}


# -- what the contracts do not know: this plugin's own behaviour -----------------------
def test_the_plugin_is_installed_and_listed() -> None:
    info = next((p for p in arkit.list_plugins() if p.name == "example"), None)
    assert info is not None, "the `example` entry point is missing: install the plugin with `pip install -e .`"
    assert info.error is None and info.distribution == "arkit-example"
    assert {"tokenizer:example/chars", "sampler:example/top-a"} <= set(info.components)


def test_the_alphabet_is_learned_from_data() -> None:
    tokenizer = CharTokenizer.from_texts(["hello", "world"])
    assert tokenizer.alphabet == "dehlorw"
    assert tokenizer.vocab_size == 7 + 3
    assert tokenizer.decode(tokenizer.encode("hello")) == "hello"
    with pytest.raises(arkit.ConfigError):
        CharTokenizer.from_texts(["", ""])
    with pytest.raises(arkit.ConfigError, match="repeated"):
        CharTokenizer(alphabet="aba")


def test_unknown_characters_are_named() -> None:
    with pytest.raises(arkit.InputError, match=r"'!' \(position 1\)"):
        CharTokenizer(alphabet="ab").encode("a!b")


def test_top_a_keeps_ids_above_a_times_the_squared_top_probability() -> None:
    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    scores = TopA(a=0.5).process(probs.log(), torch.full((1, 1), -1))  # threshold 0.5 * 0.25 = 0.125
    assert torch.isfinite(scores).tolist() == [[True, True, True, False]]
    flat = torch.zeros(1, 4)
    assert torch.isfinite(TopA(a=1.0).process(flat, torch.full((1, 1), -1))).all()  # 0.25 >= 1.0 * 0.0625


@pytest.mark.parametrize("config", [{"a": 0.0}, {"a": 1.5}, {"a": "0.2"}, {"temperature": 0.0}, {"temperature": True}])
def test_top_a_rejects_bad_configs(config: dict[str, object]) -> None:
    with pytest.raises(arkit.ConfigError):
        arkit.create("sampler", "example/top-a", **config)


# -- the components in a pipeline ------------------------------------------------------
def test_a_pipeline_with_the_plugin_generates_and_round_trips(tmp_path: Path) -> None:
    tokenizer = CharTokenizer.from_texts(["hello world", "hold the door"])
    pipe = arkit.Pipeline(
        tokenizer=tokenizer,
        backbone=arkit.create("backbone", "core/transformer", vocab_size=tokenizer.vocab_size, d_model=32,
                              n_layers=1, n_heads=2),
        head=arkit.create("head", "core/categorical", d_model=32, vocab_size=tokenizer.vocab_size),
        sampler=arkit.create("sampler", "example/top-a", a=0.1),
    )
    out = pipe.generate(["hello"], max_new_tokens=10, seed=0)
    assert len(out.sequences[0]) >= 1 and set(out.decoded[0]) <= set(tokenizer.alphabet)

    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "pipe"))
    assert isinstance(loaded.tokenizer, CharTokenizer) and loaded.tokenizer.alphabet == tokenizer.alphabet
    assert isinstance(loaded.sampler, TopA) and loaded.sampler.config == pipe.sampler.config
    assert loaded.generate(["hello"], max_new_tokens=10, seed=0).sequences == out.sequences
