"""A plugin name that is taken never displaces the plugin that has it."""

from __future__ import annotations

from collections.abc import Iterator
import importlib.metadata
from pathlib import Path

import pytest

import arkit
from arkit import plugins


@pytest.fixture()
def impostor(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """An installed-looking entry point named "core", like a third-party plugin could declare."""
    (tmp_path / "impostor.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    real = importlib.metadata.entry_points
    extra = importlib.metadata.EntryPoint(name="core", value="impostor", group=plugins.ENTRY_POINT_GROUP)

    def entry_points(**kwargs: object) -> object:
        found = real(**kwargs)  # type: ignore[arg-type]
        return [*found, extra] if kwargs.get("group") == plugins.ENTRY_POINT_GROUP else found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.delenv("ARKIT_STRICT_PLUGINS", raising=False)
    plugins._reset_plugins()
    yield
    plugins._reset_plugins()


def test_an_entry_point_reusing_a_taken_name_is_recorded_apart(impostor: None) -> None:
    with pytest.warns(arkit.ArkitPluginWarning, match="already used"):
        listed = {p.name: p for p in arkit.list_plugins()}
    assert listed["core"].error is None and listed["core"].builtin
    assert any(name.startswith("core [") and p.error for name, p in listed.items())
    assert arkit.get_component("sampler", "core/greedy").plugin == "core"


def test_registering_in_process_under_a_taken_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already loaded"):
        with plugins.registered_plugin(object(), "core"):
            pass
    assert arkit.get_component("sampler", "core/greedy").plugin == "core"
