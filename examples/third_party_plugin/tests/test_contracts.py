"""The arkit contract suite over this plugin's components, plus a pipeline round trip."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st
import pytest

import arkit
from arkit.testing import SamplerContract, TokenizerContract
from arkit_example import CharTokenizer


class TestCharTokenizer(TokenizerContract):
    component = "example/chars"
    config = {"alphabet": "abc xyz"}
    items = st.text(alphabet="abc xyz")


class TestTopA(SamplerContract):
    component = "example/top-a"
    config = {"a": 0.3}


def test_the_plugin_is_listed() -> None:
    info = next(p for p in arkit.list_plugins() if p.name == "example")
    assert info.error is None and info.distribution == "arkit-example"
    assert {"tokenizer:example/chars", "sampler:example/top-a"} <= set(info.components)


def test_unknown_characters_are_named() -> None:
    with pytest.raises(arkit.InputError, match="'!'"):
        CharTokenizer(alphabet="ab").encode("a!")


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
    loaded = arkit.Pipeline.from_pretrained(pipe.save_pretrained(tmp_path / "pipe"))
    assert loaded.tokenizer.alphabet == tokenizer.alphabet
    assert loaded.generate(["hello"], max_new_tokens=10, seed=0).sequences == out.sequences
