"""The registry: lookup, creation, presets, naming rules, and errors that help."""

from __future__ import annotations

import pytest

import arkit
from arkit.plugins import registered_plugin


def test_builtins_are_registered_through_the_core_plugin() -> None:
    names = {(c.kind, c.name) for c in arkit.list_components()}
    assert {
        ("tokenizer", "core/byte"),
        ("backbone", "core/transformer"),
        ("head", "core/categorical"),
        ("sampler", "core/greedy"),
        ("sampler", "core/multinomial"),
        ("cache", "core/dynamic"),
    } <= names
    core = next(p for p in arkit.list_plugins() if p.name == "core")
    assert core.builtin and core.error is None and core.distribution == "arkit"
    assert "backbone:core/transformer" in core.components
    assert all(c.plugin == "core" for c in arkit.list_components(pattern="core/*"))


def test_list_filters_by_kind_and_pattern() -> None:
    assert [c.name for c in arkit.list_components("sampler", pattern="core/g*")] == ["core/greedy"]
    assert all(c.kind == "cache" for c in arkit.list_components(kind="cache"))
    assert arkit.list_components(pattern="nothing/*") == []


def test_unqualified_names_resolve_when_unambiguous() -> None:
    assert arkit.get_component("tokenizer", "byte").name == "core/byte"


def test_unknown_name_is_a_key_error_with_suggestions() -> None:
    with pytest.raises(arkit.UnknownComponentError) as info:
        arkit.get_component("sampler", "core/gredy")
    assert isinstance(info.value, KeyError)
    assert "core/greedy" in str(info.value) and "arkit components" in str(info.value)
    with pytest.raises(KeyError):
        arkit.create("backbone", "nope/none")


def test_unknown_kind_is_reported() -> None:
    with pytest.raises(arkit.UnknownComponentError, match="tokenizer"):
        arkit.list_components("tokeniser")  # type: ignore[arg-type]


def test_create_passes_config_and_rejects_unknown_keys() -> None:
    sampler = arkit.create("sampler", "core/multinomial", temperature=0.5, top_k=3)
    assert sampler.config == {"temperature": 0.5, "top_k": 3, "top_p": 1.0}
    with pytest.raises(arkit.ConfigError, match="temperature"):
        arkit.create("sampler", "core/multinomial", temprature=0.5)


def test_invalid_config_values_raise_config_errors() -> None:
    with pytest.raises(arkit.ConfigError, match="top_p"):
        arkit.create("sampler", "core/multinomial", top_p=1.5)
    with pytest.raises(arkit.ConfigError, match="divisible"):
        arkit.create("backbone", "core/transformer", d_model=30, n_heads=4)


def test_presets_are_listed_and_built() -> None:
    assert "core/tiny-byte" in [p.name for p in arkit.list_presets()]
    pipe = arkit.Pipeline.from_preset("tiny-byte", backbone={"n_layers": 1})
    assert pipe.backbone.config["n_layers"] == 1
    with pytest.raises(arkit.UnknownComponentError, match="core/tiny-byte"):
        arkit.get_preset("core/tiny-bite")


class _NamespacedPlugin:
    @arkit.hookimpl
    def arkit_register_samplers(self, register):  # type: ignore[no-untyped-def]
        from arkit.samplers.greedy import GreedySampler

        register("argmax", GreedySampler, description="greedy under another name")


def test_names_without_namespace_go_under_the_plugin_name() -> None:
    with registered_plugin(_NamespacedPlugin(), "mydomain"):
        info = arkit.get_component("sampler", "mydomain/argmax")
        assert info.plugin == "mydomain" and info.description == "greedy under another name"
    assert not arkit.list_components(pattern="mydomain/*")


class _BadNamePlugin:
    @arkit.hookimpl
    def arkit_register_samplers(self, register):  # type: ignore[no-untyped-def]
        from arkit.samplers.greedy import GreedySampler

        register("a/b/c", GreedySampler)


def test_invalid_names_fail_the_plugin_not_arkit() -> None:
    with pytest.warns(arkit.ArkitPluginWarning, match="a/b/c"):
        with registered_plugin(_BadNamePlugin(), "badname"):
            info = next(p for p in arkit.list_plugins() if p.name == "badname")
            assert info.error is not None and "domain/name" in info.error
            assert arkit.get_component("sampler", "core/greedy")


def test_created_objects_are_checked_against_their_protocol() -> None:
    class NotASampler:
        config: dict = {}

        def process(self, logits, tokens):  # type: ignore[no-untyped-def]
            return logits

        def select(self, scores, generator):  # type: ignore[no-untyped-def]
            return scores.argmax(-1)

    class Plugin:
        @arkit.hookimpl
        def arkit_register_samplers(self, register):  # type: ignore[no-untyped-def]
            register("lazy/no-flag", lambda: NotASampler())  # a function factory: checked at create time

    with registered_plugin(Plugin(), "lazy"):
        with pytest.raises(arkit.ComponentProtocolError, match="deterministic"):
            arkit.create("sampler", "lazy/no-flag")
