"""A broken plugin never bricks arkit: it is recorded, warned about, listed, and skipped.

The fast tests fake entry points in-process; the slow one installs real
distributions (the example plugin and two broken fixtures) into a fresh virtual
environment and drives the installed `arkit` command.
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib.metadata
import json
import os
import shutil
from pathlib import Path
import subprocess
import sys
import sysconfig
import time

import pytest

import arkit
from arkit import plugins

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture()
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[importlib.metadata.EntryPoint]]:
    """Entry points the plugin loader will find in addition to the installed ones."""
    monkeypatch.syspath_prepend(str(FIXTURES / "broken_import_plugin"))
    monkeypatch.syspath_prepend(str(FIXTURES / "bad_component_plugin"))
    extra: list[importlib.metadata.EntryPoint] = []
    real = importlib.metadata.entry_points

    def entry_points(**kwargs: object) -> object:
        found = real(**kwargs)  # type: ignore[arg-type]
        if kwargs.get("group") == plugins.ENTRY_POINT_GROUP:
            return [*found, *extra]
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.delenv("ARKIT_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ARKIT_DISABLE_PLUGINS", raising=False)
    plugins._reset_plugins()
    yield extra
    plugins._reset_plugins()


def ep(name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=plugins.ENTRY_POINT_GROUP)


def test_an_import_failure_is_recorded_and_everything_else_works(fake_entry_points: list) -> None:
    fake_entry_points.append(ep("broken-import", "arkit_broken_import.plugin"))
    with pytest.warns(arkit.ArkitPluginWarning, match="broken-import.*a_dependency_that_is_not_installed"):
        listed = {p.name: p for p in arkit.list_plugins()}
    assert "ModuleNotFoundError" in listed["broken-import"].error
    assert listed["core"].error is None
    assert arkit.create("tokenizer", "core/byte").decode(arkit.create("tokenizer", "core/byte").encode("ok")) == "ok"


def test_a_non_conforming_component_fails_its_whole_plugin(fake_entry_points: list) -> None:
    fake_entry_points.append(ep("bad-component", "arkit_bad_component.plugin"))
    with pytest.warns(arkit.ArkitPluginWarning, match="lacks method"):
        listed = {p.name: p for p in arkit.list_plugins()}
    assert "decode" in listed["bad-component"].error
    assert listed["bad-component"].components == ()
    with pytest.raises(arkit.UnknownComponentError):  # rolled back with the rest of the plugin
        arkit.get_component("sampler", "bad-component/valid")
    assert arkit.get_component("sampler", "core/greedy")


def test_a_duplicate_name_names_both_plugins(fake_entry_points: list, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dup_plugin.py").write_text(
        "import arkit\nfrom arkit.samplers.greedy import GreedySampler\n"
        "@arkit.hookimpl\ndef arkit_register_samplers(register):\n    register('core/greedy', GreedySampler)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points.append(ep("dup", "dup_plugin"))
    with pytest.warns(arkit.ArkitPluginWarning):
        listed = {p.name: p for p in arkit.list_plugins()}
    assert "'core'" in listed["dup"].error and "'dup'" in listed["dup"].error
    assert arkit.get_component("sampler", "core/greedy").plugin == "core"


def test_strict_mode_raises_with_a_clear_message(fake_entry_points: list, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points.append(ep("broken-import", "arkit_broken_import.plugin"))
    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")
    with pytest.raises(arkit.PluginLoadError, match="plugin 'broken-import'.*ARKIT_DISABLE_PLUGINS=broken-import"):
        arkit.list_components()
    monkeypatch.delenv("ARKIT_STRICT_PLUGINS")
    plugins._reset_plugins()
    with pytest.warns(arkit.ArkitPluginWarning):
        assert arkit.list_components("backbone")  # a failed strict load leaves nothing half-loaded


def test_disabled_plugins_are_not_imported(fake_entry_points: list, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points += [ep("broken-import", "arkit_broken_import.plugin"), ep("bad-component", "arkit_bad_component.plugin")]
    monkeypatch.setenv("ARKIT_DISABLE_PLUGINS", "broken-import, bad-component")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", arkit.ArkitPluginWarning)
        names = {p.name for p in arkit.list_plugins()}
    assert not names & {"broken-import", "bad-component"}


# -- a real installation --------------------------------------------------------------
def _venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # Reuse this environment's third-party packages (torch is large), but none of its arkit
    # distributions or editable installs: link everything else into a folder the venv appends.
    parent, shared = Path(sysconfig.get_paths()["purelib"]), tmp_path / "shared-packages"
    shared.mkdir()
    for entry in parent.iterdir():
        if entry.name.lower().startswith(("arkit", "__editable__", "_arkit")) or entry.suffix == ".pth":
            continue
        (shared / entry.name).symlink_to(entry)
    Path(site, "_shared_packages.pth").write_text(f"import sys; sys.path.append({str(shared)!r})\n")
    return venv


@pytest.mark.slow
def test_installed_plugins_in_a_fresh_environment(tmp_path: Path) -> None:
    start = time.perf_counter()
    venv = _venv(tmp_path)
    python, arkit_cli = str(venv / "bin" / "python"), str(venv / "bin" / "arkit")
    projects = [ROOT]
    for source in (ROOT / "examples" / "third_party_plugin", FIXTURES / "broken_import_plugin", FIXTURES / "bad_component_plugin"):
        # build from copies: an in-place build leaves egg-info metadata that the in-process tests would find
        projects.append(Path(shutil.copytree(source, tmp_path / source.name, ignore=shutil.ignore_patterns("*.egg-info", "build"))))
    for project in projects:
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--disable-pip-version-check", str(project)], check=True, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARKIT_")}

    def arkit_json(*args: str, **extra: str) -> object:
        result = subprocess.run([arkit_cli, *args, "--json"], capture_output=True, text=True, env={**env, **extra},
                                cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    listed = {p["name"]: p for p in arkit_json("plugins")}  # type: ignore[union-attr]
    assert listed["example"]["error"] is None and listed["example"]["distribution"] == "arkit-example"
    assert "sampler:example/top-a" in listed["example"]["components"]
    assert "a_dependency_that_is_not_installed" in listed["broken-import"]["error"]
    assert "decode" in listed["bad-component"]["error"]
    where = subprocess.run([python, "-c", "import arkit, arkit_example; print(arkit.__file__, arkit_example.__file__)"],
                           capture_output=True, text=True, check=True, env=env, cwd=tmp_path).stdout
    assert all(path.startswith(str(venv)) for path in where.split()), where  # installed here, not borrowed

    names = {c["name"] for c in arkit_json("components")}  # type: ignore[union-attr]
    assert {"core/transformer", "example/chars"} <= names and "bad-component/valid" not in names

    strict = subprocess.run([arkit_cli, "plugins"], capture_output=True, text=True, cwd=tmp_path,
                            env={**env, "ARKIT_STRICT_PLUGINS": "1"})
    assert strict.returncode == 1 and strict.stderr.startswith("arkit: error: plugin")
    assert "Traceback" not in strict.stderr

    quiet = subprocess.run([arkit_cli, "plugins", "--json"], capture_output=True, text=True, cwd=tmp_path,
                           env={**env, "ARKIT_DISABLE_PLUGINS": "broken-import,bad-component"})
    assert quiet.returncode == 0 and "ArkitPluginWarning" not in quiet.stderr
    assert all(p["error"] is None for p in json.loads(quiet.stdout))

    tests = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(ROOT / "examples" / "third_party_plugin" / "tests")],
                           capture_output=True, text=True, cwd=tmp_path, env={**env, "ARKIT_DISABLE_PLUGINS": "broken-import,bad-component"})
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert time.perf_counter() - start < 600
