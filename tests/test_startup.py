"""The first seconds: what ``import arkit`` and the quick commands import, closed pipes, broken plugins.

Start-up time is shown by counting imported modules in a fresh interpreter (torch
alone takes seconds to import), never by timing; ``python -X importtime -m arkit
--version`` shows the times themselves.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import os
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest

import arkit

HEAVY = ("torch", "numpy", "hypothesis", "arkit.registry", "arkit.pipeline", "arkit.builtins")


def _clean_env(**switches: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARKIT_")}
    env["OMP_NUM_THREADS"] = "1"
    return {**env, **switches}


def _all_plugins_disabled() -> str:
    return ",".join(ep.name for ep in importlib.metadata.entry_points(group="arkit")) or "none"


def _modules_after(code: str, **switches: str) -> tuple[set[str], str]:
    """The modules a fresh interpreter holds after running ``code``, and what it printed."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint('\\n@@' + json.dumps(sorted(sys.modules)))\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_clean_env(**switches),
                            cwd=Path(__file__).parent)
    assert result.returncode == 0, result.stderr[-3000:]
    printed, _, modules = result.stdout.rpartition("\n@@")
    return set(json.loads(modules)), printed + result.stderr


def test_import_arkit_and_the_version_import_no_torch() -> None:
    modules, printed = _modules_after("""
        import arkit
        from arkit.cli import main
        try:
            main(["--version"])
        except SystemExit as exit:
            assert exit.code == 0
        assert isinstance(arkit.ConfigError("x"), arkit.ArkitError)
    """)
    assert f"arkit {arkit.__version__}" in printed
    heavy = sorted(m for m in modules if m.split(".")[0] == "torch" or m in HEAVY)
    assert not heavy, heavy
    assert not {m for m in modules if m.startswith("arkit_")}, "--version must not import plugins"


def test_help_imports_no_torch_when_plugins_do_not() -> None:
    """``--help`` imports the plugins (for their commands) but runs no component hook: the core adds no torch."""
    modules, printed = _modules_after("""
        from arkit.cli import main
        try:
            main(["--help"])
        except SystemExit as exit:
            assert exit.code == 0
    """, ARKIT_DISABLE_PLUGINS=_all_plugins_disabled())
    assert "generate" in printed and "plugins" in printed
    assert "torch" not in modules and "arkit.registry" not in modules


# -- with every installed plugin enabled ------------------------------------------------------


def _installed() -> list[importlib.metadata.EntryPoint]:
    return sorted(importlib.metadata.entry_points(group="arkit"), key=lambda ep: ep.name)


def _imports_of_command(*args: str) -> tuple[set[str], str]:
    """The modules ``python -m arkit ARGS`` holds when it exits (all plugins enabled), and what it printed.

    ``sys.modules`` is read at exit rather than ``-X importtime``'s report, which leaves out the modules
    loaded through ``importlib.import_module`` (entry points, lazy names).
    """
    script = textwrap.dedent(f"""
        import atexit, json, runpy, sys
        atexit.register(lambda: sys.stderr.write("\\n@@" + json.dumps(sorted(sys.modules)) + "\\n"))
        sys.argv = ["arkit", *{list(args)!r}]
        runpy.run_module("arkit", run_name="__main__", alter_sys=True)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=_clean_env(),
                            cwd=Path(__file__).parent)
    assert result.returncode == 0, result.stderr[-3000:]
    messages, _, modules = result.stderr.rpartition("\n@@")
    return set(json.loads(modules)), result.stdout + messages


@pytest.mark.parametrize("command", [("--help",), ("--version",), ("plugins",), ("components",)])
def test_quick_commands_import_no_torch_with_every_installed_plugin(command: tuple[str, ...]) -> None:
    """Plugins register their components by import path and import their modules lazily: listing them (and the
    commands they add to ``--help``) imports no torch, whatever is installed."""
    modules, printed = _imports_of_command(*command)
    torch = sorted(m for m in modules if m.split(".")[0] == "torch")
    assert not torch, f"`arkit {' '.join(command)}` imported {torch[:5]}... (run it with -X importtime to see who)"
    if command == ("--version",):
        return
    for ep in _installed():  # every plugin really was loaded, so the check above covers it
        assert ep.module in modules, f"plugin {ep.name!r} ({ep.module}) was not loaded"
        if command == ("plugins",):
            row = next(line for line in printed.splitlines() if line.split()[:1] == [ep.name])
            assert row.rstrip().endswith("ok"), row


def test_plugin_packages_load_their_public_names_on_first_use() -> None:
    """Each installed plugin package imports no torch; ``__all__``, ``dir()`` and type checkers still see every
    public name (``if TYPE_CHECKING:`` imports), and each name resolves to the object its module defines."""
    packages = sorted({ep.module.split(".")[0] for ep in _installed()})
    if not packages:
        pytest.skip("no plugin installed")
    modules, _ = _modules_after("import " + ", ".join(packages))
    assert "torch" not in modules, [m for m in modules if m.split(".")[0] in packages]
    for name in packages:
        package = importlib.import_module(name)
        public = set(package.__all__)
        assert public <= set(dir(package)), sorted(public - set(dir(package)))
        tree = ast.parse(Path(package.__file__).read_text())
        checked = {alias.name for node in ast.walk(tree) if isinstance(node, ast.If)
                   and ast.unparse(node.test) == "TYPE_CHECKING"
                   for imp in node.body if isinstance(imp, ast.ImportFrom) for alias in imp.names}
        assert checked == public, f"{name}: the `if TYPE_CHECKING:` imports differ from __all__"
        for attribute in sorted(public):
            value = getattr(package, attribute)
            assert value is not None and not isinstance(value, type(package)), f"{name}.{attribute}"
        with pytest.raises(AttributeError, match="not_a_name"):
            package.not_a_name  # noqa: B018


def test_a_plugin_commands_arguments_are_built_only_for_that_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` and other commands skip the plugins' argument builders (which may import their CLI modules);
    the plugin's own command and ``arkit plugins`` (which reports a failing builder) run them."""
    from arkit.cli import main
    from arkit.plugins import registered_plugin

    built: list[str] = []

    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            def arguments(parser):  # type: ignore[no-untyped-def]
                built.append("hello")
                parser.add_argument("name")

            register("hello", lambda args: print(f"hello {args.name}"), help="say hello", arguments=arguments)

    with registered_plugin(Plugin(), "greeter"):
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "say hello (plugin greeter)" in capsys.readouterr().out and not built
        assert main(["presets", "--json"]) == 0 and not built
        assert main(["hello", "arkit"]) == 0 and built == ["hello"]
        assert capsys.readouterr().out.strip().endswith("hello arkit")
        assert main(["plugins"]) == 0 and built == ["hello", "hello"]


def test_a_lazy_function_keeps_its_name_when_its_submodule_of_the_same_name_is_imported() -> None:
    """``arkit_timeseries.forecast`` is a function and also a submodule: importing the submodule first must not
    hide the function (as an eager ``from .forecast import forecast`` would not)."""
    pytest.importorskip("arkit_timeseries")
    _, printed = _modules_after("""
        import arkit_timeseries.forecast
        import arkit_timeseries
        print(callable(arkit_timeseries.forecast), type(arkit_timeseries.forecast).__name__)
    """)
    assert "True function" in printed, printed


def test_the_pytest_plugin_and_the_testing_kit_import_no_torch() -> None:
    modules, _ = _modules_after("import arkit.testing.pytest_plugin, arkit.testing")
    assert "torch" not in modules and "hypothesis" not in modules


def test_public_names_load_on_first_use() -> None:
    modules, printed = _modules_after("""
        import sys
        import arkit
        from arkit import Pipeline, create
        print(Pipeline.__module__, create.__module__, arkit.protocols.__name__, arkit.onnx.__name__)
    """)
    assert "arkit.pipeline arkit.registry arkit.protocols arkit.onnx" in printed
    assert "torch" in modules


def test_every_public_name_resolves_to_its_defining_object() -> None:
    import arkit.errors

    lazy = set(arkit._LAZY)  # noqa: SLF001 - the lazy table is what this test checks
    eager = {n for n in arkit.__all__ if hasattr(arkit.errors, n)} | {"__version__"}
    assert lazy | eager == set(arkit.__all__) and not lazy & eager
    for name in arkit.__all__:
        assert getattr(arkit, name) is not None, name
    assert arkit.Pipeline is __import__("arkit.pipeline", fromlist=["Pipeline"]).Pipeline
    with pytest.raises(AttributeError, match="not_a_name"):
        arkit.not_a_name  # noqa: B018


# -- broken pipes and broken plugins --------------------------------------------------------


def _arkit(*args: str, stdout: int | None = subprocess.PIPE, pythonpath: Path | None = None,
           **switches: str) -> subprocess.Popen[str]:
    env = _clean_env(**switches)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.Popen([sys.executable, "-m", "arkit", *args], stdout=stdout, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_a_closed_pipe_ends_quietly_like_a_unix_tool() -> None:
    reader, writer = os.pipe()
    os.close(reader)  # like `| head` that has already exited: every write fails with EPIPE
    try:
        proc = _arkit("components", "--json", stdout=writer, ARKIT_DISABLE_PLUGINS=_all_plugins_disabled())
    finally:
        os.close(writer)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 141, err
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err, err


@pytest.fixture()
def broken_site(tmp_path: Path) -> Path:
    """A folder that, on PYTHONPATH, installs a plugin whose import fails (metadata + module)."""
    info = tmp_path / "arkit_cracked-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: arkit-cracked\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[arkit]\ncracked = arkit_cracked\n")
    (tmp_path / "arkit_cracked.py").write_text("import a_module_nobody_installed\n")
    return tmp_path


def test_a_broken_plugin_is_one_warning_line_and_fails_plugins_check(broken_site: Path) -> None:
    others = _all_plugins_disabled()
    listing = _arkit("plugins", pythonpath=broken_site, ARKIT_DISABLE_PLUGINS=others)
    out, err = listing.communicate(timeout=600)
    assert listing.returncode == 0, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("arkit: warning: plugin 'cracked' (distribution arkit-cracked) failed to load")
    assert "ARKIT_DISABLE_PLUGINS=cracked" in lines[0] and ".py:" not in lines[0]
    assert "cracked" in out and "a_module_nobody_installed" in out

    check = _arkit("plugins", "--check", "--json", pythonpath=broken_site, ARKIT_DISABLE_PLUGINS=others)
    out, err = check.communicate(timeout=600)
    assert check.returncode == 1 and "1 plugin(s) failed: cracked" in err
    assert {p["name"]: p["error"] is not None for p in json.loads(out)}["cracked"]

    healthy = _arkit("plugins", "--check", ARKIT_DISABLE_PLUGINS=others)
    _, err = healthy.communicate(timeout=600)
    assert healthy.returncode == 0, err


def test_importing_arkit_never_fails_on_a_broken_plugin_even_under_w_error(broken_site: Path) -> None:
    env = _clean_env(PYTHONPATH=os.pathsep.join([str(broken_site), os.environ.get("PYTHONPATH", "")]))
    code = "import arkit, arkit.testing, arkit.testing.pytest_plugin; print(arkit.__version__)"
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip() == arkit.__version__, result.stderr[-2000:]
