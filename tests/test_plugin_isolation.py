"""A broken plugin never bricks arkit: it is recorded, warned about, listed, and skipped.

Two layers:

- Fast in-process tests. A plugin is "installed" by writing its metadata (a
  ``*.dist-info`` folder with ``entry_points.txt``) into a temporary folder put on
  ``sys.path``: arkit's loader then finds it through the real
  ``importlib.metadata.entry_points``, with its distribution name and version,
  exactly as it finds a pip-installed plugin. Plugin objects defined in a test go
  through ``arkit.plugins.registered_plugin``. Plugin state is reset before and
  after every test.
- One slow test installs real distributions with pip (arkit, the template plugin in
  ``examples/third_party_plugin`` and the two broken fixtures in ``tests/fixtures``)
  into a fresh virtual environment and drives the installed ``arkit`` command.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
import contextlib
import importlib
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys
import sysconfig
import time
from typing import Any
import warnings

import pytest
import torch

import arkit
from arkit import plugins

ROOT = Path(__file__).parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLE = ROOT / "examples" / "third_party_plugin"

#: (distribution, {entry-point name: module}) of the fixtures in tests/fixtures.
BROKEN_IMPORT = ("arkit-broken-import", {"broken-import": "arkit_broken_import.plugin"})
BAD_COMPONENT = ("arkit-bad-component", {"bad-component": "arkit_bad_component.plugin"})
FIXTURE_MODULES = ("arkit_broken_import", "arkit_broken_import.plugin", "arkit_bad_component", "arkit_bad_component.plugin")

ARGMAX_PLUGIN = '''
import arkit


class Argmax:
    """Greedy decoding: a valid sampler."""

    deterministic = True
    config = {}

    def process(self, logits, tokens):
        return logits

    def select(self, scores, generator):
        return scores.argmax(dim=-1)


@arkit.hookimpl
def arkit_register_samplers(register):
    for name in NAMES:
        register(name, Argmax)
'''


class Argmax:
    """Greedy decoding: a valid sampler for the in-process plugins below."""

    deterministic = True

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    def process(self, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        return logits

    def select(self, scores: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return scores.argmax(dim=-1)


class FakeSite:
    """A folder on ``sys.path`` into which tests install plugins as metadata plus modules."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def install(
        self, distribution: str, entry_points: Mapping[str, str], *, version: str = "0.0.1",
        modules: Mapping[str, str] | None = None,
    ) -> None:
        """Install ``distribution`` with these ``arkit`` entry points and top-level module sources."""
        for module, source in (modules or {}).items():
            (self.folder / f"{module}.py").write_text(source)
        info = self.folder / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        lines = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{plugins.ENTRY_POINT_GROUP}]\n{lines}")
        importlib.invalidate_caches()

    def install_argmax_plugin(self, distribution: str, entry_point: str, names: Sequence[str],
                              extends: Sequence[str] = ()) -> None:
        """A plugin registering the valid :class:`Argmax` sampler under each of ``names`` (``extends``: other
        namespaces it declares)."""
        module = f"{distribution.replace('-', '_')}_isolation_plugin"
        self.install(distribution, {entry_point: module},
                     modules={module: f"NAMES = {list(names)!r}\narkit_extends = {list(extends)!r}\n{ARGMAX_PLUGIN}"})


@pytest.fixture()
def clean_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No ARKIT_* switches, and plugins loaded afresh in the test and again after it."""
    monkeypatch.delenv("ARKIT_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ARKIT_DISABLE_PLUGINS", raising=False)
    plugins._reset_plugins()  # the registry cache follows the plugin host, so this resets it too
    yield
    plugins._reset_plugins()


@pytest.fixture()
def site(clean_plugins: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSite:
    """A :class:`FakeSite`; the fixture plugins' packages are importable (not yet installed)."""
    folder = tmp_path / "site"
    folder.mkdir()
    for fixture in ("broken_import_plugin", "bad_component_plugin"):
        monkeypatch.syspath_prepend(str(FIXTURES / fixture))
    monkeypatch.syspath_prepend(str(folder))
    for module in FIXTURE_MODULES:  # imported by an earlier test: make "was it imported?" answerable
        monkeypatch.delitem(sys.modules, module, raising=False)
    return FakeSite(folder)


def listed() -> dict[str, arkit.PluginInfo]:
    return {p.name: p for p in arkit.list_plugins()}


def error_of(info: arkit.PluginInfo) -> str:
    """The error of a plugin that must have failed."""
    assert info.error is not None, f"plugin {info.name!r} was expected to fail but loaded"
    return info.error


@contextlib.contextmanager
def plugin_warnings() -> Iterator[list[str]]:
    """Collect the messages of the ArkitPluginWarnings raised in the block."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages: list[str] = []
        yield messages
    messages += [str(w.message) for w in caught if issubclass(w.category, arkit.ArkitPluginWarning)]


# -- import failures ---------------------------------------------------------------------
def test_an_import_failure_is_recorded_warned_once_and_listed(site: FakeSite) -> None:
    site.install(*BROKEN_IMPORT)
    with pytest.warns(arkit.ArkitPluginWarning, match=r"plugin 'broken-import' \(distribution arkit-broken-import\)"):
        plugins_now = listed()
    broken = plugins_now["broken-import"]
    assert broken.distribution == "arkit-broken-import" and broken.version == "0.0.1" and not broken.builtin
    assert "ModuleNotFoundError" in error_of(broken) and "a_dependency_that_is_not_installed" in error_of(broken)
    assert broken.components == () and broken.presets == ()
    assert plugins_now["core"].error is None and plugins_now["core"].components

    with plugin_warnings() as again:  # recorded once per load, not warned on every registry access
        listed()
        arkit.list_components()
    assert again == []


def test_everything_else_works_next_to_an_import_failure(site: FakeSite) -> None:
    site.install(*BROKEN_IMPORT)
    site.install_argmax_plugin("arkit-healthy", "healthy", ["healthy/argmax"])
    with pytest.warns(arkit.ArkitPluginWarning):
        arkit.list_components()
    tokenizer = arkit.create("tokenizer", "core/byte")
    assert tokenizer.decode(tokenizer.encode("still works")) == "still works"
    sampler = arkit.create("sampler", "healthy/argmax")  # a third-party plugin loaded after the broken one
    assert sampler.select(torch.tensor([[0.0, 3.0, 1.0]]), None).tolist() == [1]
    assert listed()["healthy"].error is None


# -- registration failures: all or nothing per plugin ------------------------------------
def test_a_non_conforming_component_fails_its_whole_plugin(site: FakeSite) -> None:
    site.install(*BAD_COMPONENT)
    with pytest.warns(arkit.ArkitPluginWarning, match=r"bad-component.*HalfTokenizer lacks method\(s\) decode"):
        bad = listed()["bad-component"]
    assert bad.distribution == "arkit-bad-component" and "decode" in error_of(bad)
    assert bad.components == ()
    with pytest.raises(arkit.UnknownComponentError):  # registered before the bad one, rolled back with it
        arkit.get_component("sampler", "bad-component/argmax")
    assert not arkit.list_components(pattern="bad-component/*")
    assert arkit.get_component("sampler", "core/greedy").plugin == "core"


def test_an_exception_inside_a_hook_fails_only_that_plugin(clean_plugins: None) -> None:
    class Exploding:
        @arkit.hookimpl
        def arkit_register_samplers(self, register: Any) -> None:
            register("exploding/argmax", Argmax)
            raise RuntimeError("exploding.toml is missing")

    with plugins.registered_plugin(Exploding(), "exploding"):
        with pytest.warns(arkit.ArkitPluginWarning, match="'exploding'.*RuntimeError: exploding.toml is missing"):
            record = listed()["exploding"]
        assert record.components == () and "RuntimeError" in error_of(record)
        assert not arkit.list_components(pattern="exploding/*")
        assert arkit.list_components("backbone")


def test_a_duplicate_name_across_two_plugins_names_both(site: FakeSite) -> None:
    # entry points load in name order: "alpha" registers first and keeps the name
    site.install_argmax_plugin("arkit-alpha", "alpha", ["shared/argmax"], extends=["shared"])
    site.install_argmax_plugin("arkit-beta", "beta", ["beta/argmax", "shared/argmax"], extends=["shared"])
    with pytest.warns(arkit.ArkitPluginWarning, match="registered twice"):
        plugins_now = listed()
    error = error_of(plugins_now["beta"])
    assert "sampler 'shared/argmax'" in error and "plugin 'alpha'" in error and "plugin 'beta'" in error
    assert "ARKIT_DISABLE_PLUGINS" in error
    assert plugins_now["alpha"].error is None and plugins_now["alpha"].components == ("sampler:shared/argmax",)
    assert arkit.get_component("sampler", "shared/argmax").distribution == "arkit-alpha"
    with pytest.raises(arkit.UnknownComponentError):  # beta's other component is rolled back
        arkit.get_component("sampler", "beta/argmax")


def test_two_distributions_with_one_entry_point_name_keep_the_first(site: FakeSite) -> None:
    # which one comes first depends on the folder's listing order: the checks hold either way
    site.install_argmax_plugin("arkit-one", "same", ["same/one"])
    site.install_argmax_plugin("arkit-two", "same", ["same/two"])
    with pytest.warns(arkit.ArkitPluginWarning, match="plugin name 'same' is already used by arkit-"):
        plugins_now = listed()
    kept = plugins_now["same"]
    refused = next(p for name, p in plugins_now.items() if name.startswith("same ["))
    assert kept.error is None and {kept.distribution, refused.distribution} == {"arkit-one", "arkit-two"}
    assert f"already used by {kept.distribution}" in error_of(refused)
    kept_name, refused_name = (f"same/{str(p.distribution).removeprefix('arkit-')}" for p in (kept, refused))
    assert kept.components == (f"sampler:{kept_name}",)
    with pytest.raises(arkit.UnknownComponentError):
        arkit.get_component("sampler", refused_name)


def test_a_plugin_cannot_take_a_builtin_name(clean_plugins: None) -> None:
    class Impostor:
        arkit_extends = ["core"]  # even a plugin that extends the core cannot displace its components

        @arkit.hookimpl
        def arkit_register_samplers(self, register: Any) -> None:
            register("core/greedy", Argmax)

    with plugins.registered_plugin(Impostor(), "impostor"):
        with pytest.warns(arkit.ArkitPluginWarning, match="'core'.*'impostor'"):
            assert "registered twice" in error_of(listed()["impostor"])
        assert arkit.get_component("sampler", "core/greedy").plugin == "core"


# -- namespaces ------------------------------------------------------------------------
def test_a_component_outside_the_plugins_namespace_is_refused(site: FakeSite) -> None:
    site.install_argmax_plugin("arkit-squat", "squat", ["squat/argmax", "timeseries/eps"])
    with pytest.warns(arkit.ArkitPluginWarning, match="outside the namespace of plugin 'squat'"):
        error = error_of(listed()["squat"])
    assert "'timeseries/eps'" in error and "'squat/eps'" in error and "arkit_extends = ['timeseries']" in error
    with pytest.raises(arkit.UnknownComponentError):  # all or nothing: the plugin's own name is rolled back too
        arkit.get_component("sampler", "squat/argmax")


def test_a_plugin_that_declares_it_extends_another_may_register_there(site: FakeSite) -> None:
    site.install_argmax_plugin("arkit-timeseries-extra", "tsextra", ["timeseries/eps", "tsextra/argmax"],
                               extends=["timeseries"])
    info = arkit.get_component("sampler", "timeseries/eps")
    assert (info.plugin, info.distribution) == ("tsextra", "arkit-timeseries-extra")
    assert listed()["tsextra"].error is None


def test_presets_are_namespaced_too(clean_plugins: None) -> None:
    class Squatter:
        @arkit.hookimpl
        def arkit_register_pipeline_presets(self, register: Any) -> None:
            register("core/tiny", {"tokenizer": ("core/byte", {})})

    with plugins.registered_plugin(Squatter(), "squatter"):
        with pytest.warns(arkit.ArkitPluginWarning, match="preset 'core/tiny' is outside the namespace"):
            error_of(listed()["squatter"])


def test_a_malformed_extends_declaration_fails_the_plugin(clean_plugins: None) -> None:
    class Sloppy:
        arkit_extends = "timeseries"  # a string, not a list

        @arkit.hookimpl
        def arkit_register_samplers(self, register: Any) -> None:
            register("sloppy/argmax", Argmax)

    with plugins.registered_plugin(Sloppy(), "sloppy"):
        with pytest.warns(arkit.ArkitPluginWarning, match="arkit_extends must be a list"):
            error_of(listed()["sloppy"])


# -- strict mode -------------------------------------------------------------------------
def test_strict_mode_raises_on_an_import_failure(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install(*BROKEN_IMPORT)
    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")
    with pytest.raises(arkit.PluginLoadError) as raised:
        arkit.list_components()
    error = raised.value
    assert (error.plugin, error.distribution) == ("broken-import", "arkit-broken-import")
    assert "ModuleNotFoundError" in error.reason and "a_dependency_that_is_not_installed" in error.reason
    assert str(error).startswith("plugin 'broken-import' (distribution arkit-broken-import) failed to load: ")
    assert "ARKIT_DISABLE_PLUGINS=broken-import" in str(error)
    assert plugins._host is None  # nothing half-loaded is left behind

    monkeypatch.delenv("ARKIT_STRICT_PLUGINS")
    with pytest.warns(arkit.ArkitPluginWarning):
        assert arkit.get_component("backbone", "core/transformer")


def test_strict_mode_raises_on_a_registration_failure(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install(*BAD_COMPONENT)
    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "true")
    with pytest.raises(arkit.PluginLoadError, match=r"plugin 'bad-component' .*lacks method\(s\) decode"):
        arkit.list_components()


def test_strict_mode_raises_on_every_access(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not only the first: a registration failure must not leave a registry that goes on without the plugin."""
    site.install(*BAD_COMPONENT)
    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")
    for _ in range(2):
        with pytest.raises(arkit.PluginLoadError, match="bad-component"):
            arkit.list_components()


class HalfTokenizer:
    """Has no ``decode``: fails the protocol check when registered as a tokenizer."""

    vocab_size = 3
    special_tokens: Mapping[str, int] = {}
    lossless = False

    @property
    def config(self) -> Mapping[str, Any]:
        return {}

    def encode(self, item: str) -> list[int]:
        return [0] * len(item)


def test_a_strict_failure_keeps_the_other_in_process_plugins(clean_plugins: None, monkeypatch: pytest.MonkeyPatch) -> None:
    class Good:
        @arkit.hookimpl
        def arkit_register_samplers(self, register: Any) -> None:
            register("good/argmax", Argmax)

    class Bad:
        @arkit.hookimpl
        def arkit_register_tokenizers(self, register: Any) -> None:
            register("bad/half", HalfTokenizer)

    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")
    with plugins.registered_plugin(Good(), "good"):
        assert arkit.get_component("sampler", "good/argmax")
        with pytest.raises(arkit.PluginLoadError, match="'bad'"):
            with plugins.registered_plugin(Bad(), "bad"):
                arkit.list_components()
        assert arkit.get_component("sampler", "good/argmax")  # the enclosing block's plugin is still there


# -- disabling ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "disabled",
    [
        pytest.param("broken-import,bad-component", id="entry-point-names"),
        pytest.param(" arkit-broken-import , arkit-bad-component ", id="distribution-names"),
        pytest.param("Arkit_Broken_Import,arkit.bad_component", id="unnormalised-distribution-names"),
    ],
)
def test_disabled_plugins_are_neither_imported_nor_listed(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch, disabled: str
) -> None:
    site.install(*BROKEN_IMPORT)
    site.install(*BAD_COMPONENT)
    monkeypatch.setenv("ARKIT_DISABLE_PLUGINS", disabled)
    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")  # any failure of theirs would raise
    with plugin_warnings() as messages:
        plugins_now = listed()
        assert arkit.get_component("sampler", "core/greedy")
    assert not {"broken-import", "bad-component"} & set(plugins_now)
    assert not [m for m in messages if "broken-import" in m or "bad-component" in m]
    assert not set(FIXTURE_MODULES) & set(sys.modules)


@pytest.mark.parametrize("disabled", ["healthy", "arkit-healthy", "Arkit_Healthy"])
def test_a_pipeline_needing_a_disabled_plugin_says_it_is_disabled_not_missing(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, disabled: str
) -> None:
    from tests.helpers import tiny_pipeline

    site.install_argmax_plugin("arkit-healthy", "healthy", ["healthy/argmax"])
    saved = tiny_pipeline().replace(sampler=arkit.create("sampler", "healthy/argmax")).save_pretrained(tmp_path / "p")
    monkeypatch.setenv("ARKIT_DISABLE_PLUGINS", f"other,{disabled}")
    plugins._reset_plugins()
    with pytest.raises(arkit.MissingPluginError) as info:
        arkit.Pipeline.from_pretrained(saved)
    message = str(info.value)
    assert "installed (version 0.0.1) but disabled by ARKIT_DISABLE_PLUGINS=" in message and disabled in message
    assert "not installed" not in message
    monkeypatch.delenv("ARKIT_DISABLE_PLUGINS")
    plugins._reset_plugins()
    assert arkit.Pipeline.from_pretrained(saved).sampler.deterministic


def test_disabling_one_plugin_leaves_the_others_failing_loudly(site: FakeSite, monkeypatch: pytest.MonkeyPatch) -> None:
    site.install(*BROKEN_IMPORT)
    site.install(*BAD_COMPONENT)
    monkeypatch.setenv("ARKIT_DISABLE_PLUGINS", "broken-import")
    with pytest.warns(arkit.ArkitPluginWarning, match="bad-component"):
        plugins_now = listed()
    assert "broken-import" not in plugins_now and "decode" in error_of(plugins_now["bad-component"])


# -- unknown names -----------------------------------------------------------------------
def test_an_unknown_name_is_a_key_error_that_suggests_close_matches(clean_plugins: None) -> None:
    with pytest.raises(KeyError) as raised:
        arkit.create("sampler", "core/gredy")
    error = raised.value
    assert isinstance(error, arkit.UnknownComponentError) and isinstance(error, arkit.ArkitError)
    assert str(error).startswith("unknown sampler 'core/gredy'.")  # not repr()'d like a plain KeyError
    assert "Did you mean 'core/greedy'" in str(error) and "arkit components" in str(error)

    with pytest.raises(arkit.UnknownComponentError, match="'core/byte'"):
        arkit.get_component("tokenizer", "bytes")
    with pytest.raises(arkit.UnknownComponentError, match="'sampler'"):
        arkit.list_components("sampelr")  # type: ignore[arg-type]  # the typo is the point
    assert arkit.get_component("sampler", "greedy").name == "core/greedy"  # unambiguous without a namespace


# -- a real installation -----------------------------------------------------------------
def _fresh_venv(tmp_path: Path) -> Path:
    """A new virtual environment (without pip) that sees this environment's other packages.

    Installing torch and the rest again would cost minutes and gigabytes, so every
    top-level entry of this environment's site-packages is linked into a folder the
    new environment appends to ``sys.path`` -- except arkit's own distributions and
    plugins, editable-install hooks and ``.pth`` files. arkit and the plugins under
    test are then installed into the new environment for real.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site_packages = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    parent, shared = Path(sysconfig.get_paths()["purelib"]), tmp_path / "shared-packages"
    shared.mkdir()
    for entry in parent.iterdir():
        if entry.name.lower().startswith(("arkit", "_arkit", "__editable__")) or entry.suffix in (".pth", ".egg-link"):
            continue
        (shared / entry.name).symlink_to(entry)
    Path(site_packages, "_shared_packages.pth").write_text(f"import sys; sys.path.append({str(shared)!r})\n")
    return venv


def _copy_projects(tmp_path: Path) -> list[Path]:
    """Copies of the four projects to install: building in place would leave build/ and
    *.egg-info folders in the repository, and the in-process tests would find that metadata."""
    ignore = shutil.ignore_patterns("*.egg-info", "build", "__pycache__", ".hypothesis")
    arkit_copy = tmp_path / "arkit-src"
    shutil.copytree(ROOT / "src" / "arkit", arkit_copy / "src" / "arkit", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, arkit_copy / name)
    sources = (EXAMPLE, FIXTURES / "broken_import_plugin", FIXTURES / "bad_component_plugin")
    return [arkit_copy, *(Path(shutil.copytree(s, tmp_path / s.name, ignore=ignore)) for s in sources)]


@pytest.mark.slow
def test_installed_plugins_in_a_fresh_environment(tmp_path: Path) -> None:
    timings: dict[str, float] = {}
    start = time.perf_counter()

    def lap(what: str) -> None:
        nonlocal start
        timings[what], start = round(time.perf_counter() - start, 1), time.perf_counter()

    venv = _fresh_venv(tmp_path)
    python, arkit_cli = str(venv / "bin" / "python"), str(venv / "bin" / "arkit")
    projects = _copy_projects(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARKIT_", "PYTHON", "HYPOTHESIS_"))}
    env["OMP_NUM_THREADS"] = "1"
    lap("venv")
    # --no-build-isolation --no-index: setuptools comes from the shared packages; nothing is downloaded
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", *map(str, projects)], check=True, cwd=tmp_path, env=env)
    lap("pip install")

    def run(*command: str, **switches: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env={**env, **switches})

    def arkit_json(*args: str, **switches: str) -> Any:
        result = run(arkit_cli, *args, "--json", **switches)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    # installed here, not borrowed from the development environment
    where = json.loads(run(python, "-c", (
        "import importlib.metadata as m, json, arkit, arkit_example\n"
        "dists = ('arkit', 'arkit-example', 'arkit-broken-import', 'arkit-bad-component')\n"
        "paths = {d: str(m.distribution(d).locate_file('')) for d in dists}\n"
        "print(json.dumps({**paths, 'arkit module': arkit.__file__, 'arkit_example module': arkit_example.__file__}))"
    )).stdout)
    assert all(Path(p).resolve().is_relative_to(venv.resolve()) for p in where.values()), where

    plugins_now = {p["name"]: p for p in arkit_json("plugins")}
    example = plugins_now["example"]
    assert (example["distribution"], example["version"], example["error"]) == ("arkit-example", "0.1.0", None)
    assert {"tokenizer:example/chars", "sampler:example/top-a"} <= set(example["components"])
    assert plugins_now["broken-import"]["distribution"] == "arkit-broken-import"
    assert "a_dependency_that_is_not_installed" in plugins_now["broken-import"]["error"]
    assert "decode" in plugins_now["bad-component"]["error"] and plugins_now["bad-component"]["components"] == []
    assert plugins_now["core"]["error"] is None

    names = {c["name"] for c in arkit_json("components")}
    assert {"core/transformer", "example/chars", "example/top-a"} <= names
    assert not {n for n in names if n.startswith("bad-component/")}
    lap("arkit plugins, components")

    strict = run(arkit_cli, "plugins", "--json", ARKIT_STRICT_PLUGINS="1")
    assert strict.returncode == 1 and strict.stdout == ""
    assert strict.stderr.startswith("arkit: error: plugin 'broken-import' (distribution arkit-broken-import) failed")
    assert "ARKIT_DISABLE_PLUGINS=broken-import" in strict.stderr and "Traceback" not in strict.stderr
    strict = run(arkit_cli, "components", ARKIT_STRICT_PLUGINS="1", ARKIT_DISABLE_PLUGINS="broken-import")
    assert strict.returncode == 1 and "Traceback" not in strict.stderr
    assert strict.stderr.startswith("arkit: error: plugin 'bad-component'") and "decode" in strict.stderr

    quiet = run(arkit_cli, "plugins", "--json", ARKIT_STRICT_PLUGINS="1",
                ARKIT_DISABLE_PLUGINS="broken-import,arkit-bad-component")
    assert quiet.returncode == 0, quiet.stderr
    assert "ArkitPluginWarning" not in quiet.stderr
    quiet_plugins = {p["name"]: p for p in json.loads(quiet.stdout)}
    assert "example" in quiet_plugins and not {"broken-import", "bad-component"} & set(quiet_plugins)
    assert all(p["error"] is None for p in quiet_plugins.values())
    lap("strict, disabled")

    # the template's own tests, run from its installed copy next to the broken plugins
    example_copy = tmp_path / EXAMPLE.name
    tests = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(example_copy / "tests"))
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "error" not in tests.stdout.splitlines()[-1]
    lap("example tests")
    print(f"fresh-environment timings (s): {timings}")

