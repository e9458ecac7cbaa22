"""The registry's public functions that arkit's own modules use (issue 22, item 4): a plugin has the same ones.

``arkit.component_info``, ``arkit.declared_inputs`` and ``arkit.get_converter``
(with the ``arkit_register_converters`` hook).
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

import arkit
from arkit import get_converter
from arkit.testing import register_plugin


class _Echo:
    """A sampler that is a class of its own (found by its type)."""

    deterministic = True
    config: dict[str, Any] = {}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return logits

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return scores.argmax(-1)


def _make_echo() -> _Echo:
    return _Echo()


class _Plugin:
    @arkit.hookimpl
    def arkit_register_samplers(self, register: Any) -> None:
        register("echo", _Echo)
        register("echo-made", _make_echo)

    @arkit.hookimpl
    def arkit_register_converters(self, register: Any) -> None:
        register("double", lambda x: 2 * x, description="Twice its argument.")
        register("lazy-dumps", "json:dumps")
        register("broken", "arkit_no_such_module_for_tests:f")


def test_component_info_names_what_an_object_was_built_from() -> None:
    with register_plugin(_Plugin(), "regpub"):
        built = arkit.create("sampler", "regpub/echo")
        assert arkit.component_info("sampler", built).name == "regpub/echo"
        assert arkit.component_info("sampler", _Echo()).name == "regpub/echo"  # by its class, not created
        made = arkit.create("sampler", "regpub/echo-made")  # a factory function: tagged by create
        info = arkit.component_info("sampler", made)
        assert (info.name, info.plugin, info.kind) == ("regpub/echo-made", "regpub", "sampler")
        greedy = arkit.create("sampler", "core/greedy")
        assert arkit.component_info("sampler", greedy).name == "core/greedy"
        with pytest.raises(arkit.UnknownComponentError, match="unknown sampler"):
            arkit.component_info("sampler", object())
        with pytest.raises(arkit.UnknownComponentError, match="component kind"):
            arkit.component_info("samplers", greedy)  # type: ignore[arg-type]


def test_declared_inputs_reads_the_export_spec() -> None:
    plain = arkit.create("backbone", "core/transformer", vocab_size=16, d_model=32, n_layers=1, n_heads=2,
                         n_kv_heads=1, max_seq_len=16)
    conditioned = arkit.create("backbone", "core/transformer", vocab_size=16, d_model=32, n_layers=1, n_heads=2,
                               n_kv_heads=1, max_seq_len=16, cond_dim=3)
    assert arkit.declared_inputs(plain) == ()
    declared = arkit.declared_inputs(conditioned)
    assert declared is not None and [(e.name, e.shape) for e in declared] == [("conditioning", ("batch", 3))]
    assert arkit.declared_inputs(torch.nn.Linear(2, 2)) is None  # not a registered component


def test_converters_are_found_by_name_and_imported_on_first_use() -> None:
    with register_plugin(_Plugin(), "regpub"):
        assert get_converter("regpub/double")(21) == 42
        import json

        assert get_converter("regpub/lazy-dumps") is json.dumps
        with pytest.raises(arkit.PluginLoadError, match="regpub.*converter 'regpub/broken'.*ModuleNotFoundError"):
            get_converter("regpub/broken")
        with pytest.raises(arkit.UnknownComponentError, match="Did you mean 'regpub/double'"):
            get_converter("regpub/doubel")
    with pytest.raises(arkit.UnknownComponentError):
        get_converter("regpub/double")  # gone with its plugin


@pytest.mark.parametrize(
    ("convert", "message"),
    [(42, "neither callable nor"), ("json.dumps", "not a 'module:attribute' path"),
     ("json:", "not a 'module:attribute' path")],
)
def test_bad_converters_fail_their_plugin(convert: Any, message: str) -> None:
    class Bad:
        @arkit.hookimpl
        def arkit_register_converters(self, register: Any) -> None:
            register("bad", convert)

    with pytest.raises(arkit.PluginLoadError, match=message):
        with register_plugin(Bad(), "regpub-bad"):
            pass


def test_a_converter_name_is_owned_by_one_plugin() -> None:
    class Thief:
        arkit_extends = ("regpub",)

        @arkit.hookimpl
        def arkit_register_converters(self, register: Any) -> None:
            register("regpub/double", abs)

    with register_plugin(_Plugin(), "regpub"):
        with pytest.raises(arkit.PluginLoadError, match="registered twice"):
            with register_plugin(Thief(), "regpub-thief"):
                pass
        assert get_converter("regpub/double")(2) == 4
