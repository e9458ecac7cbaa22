"""The `arkit` command line."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys

import pytest

import arkit
from arkit.cli import main
from arkit.plugins import _registered_plugin
from tests.helpers import tiny_pipeline


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_through_the_installed_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "arkit", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"arkit {arkit.__version__}"


def test_plugins_json_lists_the_core_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins", "--json")
    plugins = json.loads(out)
    core = next(p for p in plugins if p["name"] == "core")
    assert code == 0 and core["builtin"] and core["error"] is None
    assert set(core) == {"name", "distribution", "version", "builtin", "components", "presets", "error"}
    assert "tokenizer:core/byte" in core["components"] and "core/tiny-byte" in core["presets"]


def test_plugins_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["plugin", "distribution"] and "core" in out


def test_components_filtered_by_kind(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "components", "--kind", "cache", "--json")
    assert code == 0 and {c["kind"] for c in json.loads(out)} == {"cache"}
    assert {"core/dynamic", "core/static"} <= {c["name"] for c in json.loads(out)}


def test_unknown_kind_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["components", "--kind", "tokeniser"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_presets(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "presets", "--json")
    preset = next(p for p in json.loads(out) if p["name"] == "core/tiny-byte")
    assert preset["components"]["backbone"]["name"] == "core/transformer"


def test_generate_with_a_saved_pipeline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tiny_pipeline().save_pretrained(tmp_path / "p")
    code, out, _ = run(capsys, "generate", str(path), "--prompt", "ab", "--prompt", "cde", "--max-new-tokens", "5", "--json")
    data = json.loads(out)
    expected = arkit.Pipeline.from_pretrained(path).generate(["ab", "cde"], max_new_tokens=5, seed=0)
    assert code == 0 and data["sequences"] == [list(s) for s in expected.sequences]


def test_errors_are_one_line_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "generate", str(tmp_path / "empty"), "--prompt", "x")
    assert code == 1 and err.startswith("arkit: error:") and "pipeline.json" in err and "Traceback" not in err


def test_plugins_can_add_commands(capsys: pytest.CaptureFixture[str]) -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            def run_hello(args):  # type: ignore[no-untyped-def]
                print(f"hello {args.name}")
                return 3

            register("hello", run_hello, help="say hello", arguments=lambda p: p.add_argument("name"))

    with _registered_plugin(Plugin(), "greeter"):
        code, out, _ = run(capsys, "hello", "arkit")
        assert code == 3 and out.strip() == "hello arkit"
        with pytest.raises(SystemExit):
            main(["--help"])
        assert "say hello (plugin greeter)" in capsys.readouterr().out  # --help lists plugin commands


def test_a_plugin_command_clashing_with_a_builtin_is_reported_not_fatal(capsys: pytest.CaptureFixture[str]) -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            register("plugins", lambda args: 0)

    with _registered_plugin(Plugin(), "clash"):
        with pytest.warns(arkit.ArkitPluginWarning, match="already exists"):
            code, out, _ = run(capsys, "plugins", "--json")
    assert code == 0 and json.loads(out)


def test_strict_mode_turns_command_failures_into_errors(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    class Plugin:
        @arkit.hookimpl
        def arkit_register_commands(self, register):  # type: ignore[no-untyped-def]
            raise RuntimeError("broken")

    monkeypatch.setenv("ARKIT_STRICT_PLUGINS", "1")
    with _registered_plugin(Plugin(), "broken-cmd"):
        code, _, err = run(capsys, "plugins")
    assert code == 1 and "broken-cmd" in err and "broken" in err
