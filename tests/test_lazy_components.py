"""Components registered by import path (``"module:Class"``): listed without importing, built on first use.

A plugin registers ``register("mine/argmax", "mine_module:Argmax", description=...)``;
the registry then knows the name, description and examples, and imports the
module only when the component is built or its factory inspected. A path that
is malformed or names no module fails the plugin at registration; a module that
fails to import, a missing attribute or a non-conforming class is an
``arkit.ArkitError`` naming the plugin on first use, and ``arkit plugins --check``
reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
import inspect
import itertools
from pathlib import Path
import sys
import textwrap
import types
from typing import Any

import pytest

import arkit
from arkit import plugins
from arkit.registry import component_info, example_errors

_NUMBERS = itertools.count()

ARGMAX = '''
class Argmax:
    """Greedy decoding: a valid sampler."""

    deterministic = True
    lossless = "read from the class"

    def __init__(self, margin: float = 0.0) -> None:
        self.margin = margin

    @property
    def config(self):
        return {"margin": self.margin}

    def process(self, logits, tokens):
        return logits

    def select(self, scores, generator):
        return scores.argmax(dim=-1)
'''


@pytest.fixture()
def clean_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ARKIT_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ARKIT_DISABLE_PLUGINS", raising=False)
    plugins._reset_plugins()
    yield
    plugins._reset_plugins()


@pytest.fixture()
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_plugins: None) -> Iterator[Callable[[str], str]]:
    """Write a module with this source into a folder on ``sys.path``; returns its (unique) name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(source: str) -> str:
        name = f"arkit_lazy_test_{next(_NUMBERS)}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def _plugin(kind: str, *registrations: tuple[str, Any, dict[str, Any]]) -> types.SimpleNamespace:
    def hook(register: Any) -> None:
        for name, factory, options in registrations:
            register(name, factory, **options)

    return types.SimpleNamespace(**{f"arkit_register_{kind}s": arkit.hookimpl(hook)})


def _error_of(plugin: str) -> str:
    info = {p.name: p for p in arkit.list_plugins()}[plugin]
    assert info.error is not None, f"plugin {plugin!r} was expected to fail"
    return info.error


def test_listing_imports_nothing_and_the_first_create_imports_the_module(module_dir: Callable[[str], str]) -> None:
    module = module_dir(ARGMAX)
    plugin = _plugin("sampler", ("lazy/argmax", f"{module}:Argmax", {"description": "greedy, lazily"}))
    with plugins.registered_plugin(plugin, "lazy"):
        info = arkit.get_component("sampler", "lazy/argmax")
        assert info.description == "greedy, lazily" and info.plugin == "lazy"
        assert [c.name for c in arkit.list_components("sampler", "lazy/*")] == ["lazy/argmax"]
        assert module not in sys.modules, "listing a component must not import its module"

        sampler = arkit.create("sampler", "lazy/argmax", margin=0.5)
        assert module in sys.modules
        assert type(sampler).__module__ == module and sampler.config == {"margin": 0.5}
        assert component_info("sampler", sampler).name == "lazy/argmax"
        # the factory stands in for the class: signature, attributes, calls
        assert list(inspect.signature(info.factory).parameters) == ["margin"]
        assert info.factory.lossless == "read from the class"
        with pytest.raises(arkit.ConfigError, match="margin"):
            arkit.create("sampler", "lazy/argmax", not_a_setting=1)


def test_an_object_built_without_create_is_found_by_its_class(module_dir: Callable[[str], str]) -> None:
    module = module_dir(ARGMAX)
    plugin = _plugin("sampler", ("lazy/argmax", f"{module}:Argmax", {}))
    with plugins.registered_plugin(plugin, "lazy"):
        arkit.list_components()  # registry built while the module is not imported
        direct = __import__(module).Argmax()
        assert component_info("sampler", direct).name == "lazy/argmax"


@pytest.mark.parametrize("path, message", [
    ("no_colon_here", "is not 'module:attribute'"),
    ("a module:Thing", "is not 'module:attribute'"),
    ("arkit_no_such_module_anywhere:Thing", "there is no module 'arkit_no_such_module_anywhere'"),
])
def test_a_bad_path_fails_the_plugin_at_registration(clean_plugins: None, path: str, message: str) -> None:
    plugin = _plugin("sampler", ("lazy/argmax", path, {}))
    with plugins.registered_plugin(plugin, "lazy"), pytest.warns(arkit.ArkitPluginWarning, match="'lazy'"):
        assert message in _error_of("lazy")
        assert not arkit.list_components("sampler", "lazy/*")


def test_a_module_that_fails_on_first_use_is_an_error_naming_the_plugin(module_dir: Callable[[str], str]) -> None:
    module = module_dir("raise RuntimeError('the GPU driver is missing')\n")
    plugin = _plugin("sampler", ("lazy/argmax", f"{module}:Argmax", {}))
    with plugins.registered_plugin(plugin, "lazy"):
        assert {p.name: p.error for p in arkit.list_plugins()}["lazy"] is None  # not imported yet: listed as ok
        with pytest.raises(arkit.PluginLoadError, match="plugin 'lazy'") as raised:
            arkit.create("sampler", "lazy/argmax")
        assert f"{module}:Argmax" in str(raised.value) and "the GPU driver is missing" in str(raised.value)
        assert "ARKIT_DISABLE_PLUGINS=lazy" in str(raised.value)
        assert "the GPU driver is missing" in example_errors()["lazy"]  # what `arkit plugins --check` reports


def test_a_missing_attribute_is_an_error_naming_the_plugin(module_dir: Callable[[str], str]) -> None:
    module = module_dir(ARGMAX)
    plugin = _plugin("sampler", ("lazy/argmax", f"{module}:Argmin", {}))
    with plugins.registered_plugin(plugin, "lazy"):
        with pytest.raises(arkit.PluginLoadError, match=r"plugin 'lazy'.*Argmin"):
            arkit.create("sampler", "lazy/argmax")
        assert "Argmin" in example_errors()["lazy"]


def test_a_class_that_does_not_conform_is_a_protocol_error_naming_the_plugin(
    module_dir: Callable[[str], str],
) -> None:
    module = module_dir("class NotASampler:\n    def process(self, logits, tokens):\n        return logits\n")
    plugin = _plugin("sampler", ("lazy/broken", f"{module}:NotASampler", {}))
    with plugins.registered_plugin(plugin, "lazy"):
        with pytest.raises(arkit.ComponentProtocolError, match=r"select.*plugin 'lazy'"):
            arkit.create("sampler", "lazy/broken")
        assert "select" in example_errors()["lazy"]


def test_examples_given_as_a_function_are_built_on_first_read(module_dir: Callable[[str], str]) -> None:
    calls: list[int] = []

    def examples() -> tuple[str, ...]:
        calls.append(1)
        return ("ab", "")

    plugin = _plugin("tokenizer", ("lazy/bytes", "arkit.tokenizers.byte:ByteTokenizer", {"examples": examples}))
    with plugins.registered_plugin(plugin, "lazy"):
        info = arkit.get_component("tokenizer", "lazy/bytes")
        assert not calls
        assert list(info.examples) == ["ab", ""] and len(info.examples) == 2 and info.examples[0] == "ab"
        assert len(calls) == 1, "examples are built once"
        assert "lazy" not in example_errors()


def test_examples_that_fail_to_build_are_an_error_naming_the_plugin(clean_plugins: None) -> None:
    def examples() -> tuple[str, ...]:
        raise OSError("the sample file is missing")

    plugin = _plugin("tokenizer", ("lazy/bytes", "arkit.tokenizers.byte:ByteTokenizer", {"examples": examples}))
    with plugins.registered_plugin(plugin, "lazy"):
        info = arkit.get_component("tokenizer", "lazy/bytes")
        with pytest.raises(arkit.PluginLoadError, match=r"plugin 'lazy'.*the sample file is missing"):
            list(info.examples)
        assert "the sample file is missing" in example_errors()["lazy"]


def test_every_installed_component_registered_by_path_imports_and_conforms() -> None:
    """What ``arkit plugins --check`` checks, for the core and every installed plugin."""
    plugins._reset_plugins()
    try:
        from arkit._lazy import LazyFactory

        lazy = [c for c in arkit.list_components() if isinstance(c.factory, LazyFactory)]
        assert any(c.plugin == "core" for c in lazy), "the core registers its components by path"
        assert all(c.description for c in lazy), [c.name for c in lazy if not c.description]
        for info in lazy:
            target = info.factory.resolve()
            assert f"{target.__module__}:{target.__qualname__}" == info.factory.path, (
                f"{info.name}: register it by its defining module ({target.__module__}:{target.__qualname__}), "
                f"so that saving an object built without create() finds it without importing anything")
    finally:
        plugins._reset_plugins()


def test_core_descriptions_are_the_docstring_summaries() -> None:
    """builtins.py repeats each core component's docstring summary (so that listing needs no import)."""
    for info in arkit.list_components():
        if info.plugin == "core":
            target = info.factory.resolve()
            summary = (inspect.getdoc(target) or "").split("\n", 1)[0]
            assert info.description == summary, (
                f"{info.name}: update its description in src/arkit/builtins.py to the docstring's first line")
