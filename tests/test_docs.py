"""Documentation stays in step with the code (datasette's meta-tests)."""

from __future__ import annotations

import inspect
from pathlib import Path
import re

import arkit
from arkit import hookspecs

DOCS = Path(__file__).parents[1] / "docs"


def test_every_hook_is_documented_with_its_signature() -> None:
    text = (DOCS / "hooks.md").read_text()
    for name in (n for n in dir(hookspecs) if n.startswith("arkit_")):
        args = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"{name}({args})" in text, f"docs/hooks.md does not document {name}({args})"


def test_relative_links_in_docs_resolve() -> None:
    root = DOCS.parent
    for page in [root / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


# -- the plugin author's pages run as written ---------------------------------------------------

import contextlib
import importlib
import sys
import types
from typing import Any

import pytest

from arkit.testing import register_plugin

_FENCE = re.compile(r"```python( [^\n]*)?\n(.*?)```", re.S)
_FILE = re.compile(r"# (arkit_mydomain/\w+\.py)\n")


def _blocks(page: str) -> list[str]:
    """The page's python blocks, without signature blocks (```python signature: not code to run)."""
    return [code for info, code in _FENCE.findall((DOCS / page).read_text()) if "signature" not in info]


def _run_contract(cls: type, tmp_path: Path) -> list[str]:
    """Run every test method of a contract class as pytest would; return the names that ran (not skipped)."""
    ran = []
    for name in sorted(n for n in dir(cls) if n.startswith("test_")):
        method = getattr(cls(), name)
        kwargs = {}
        if "tmp_path" in inspect.signature(method).parameters:
            kwargs["tmp_path"] = tmp_path / cls.__name__ / name
            kwargs["tmp_path"].mkdir(parents=True)
        try:
            method(**kwargs)
        except pytest.skip.Exception:
            continue
        ran.append(name)
    return ran


def test_writing_a_plugin_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The package files it shows are written and registered; every other snippet runs, tests included."""
    package = tmp_path / "site" / "arkit_mydomain"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    session = []
    for code in _blocks("writing-a-plugin.md"):
        path = _FILE.match(code)
        if path:
            (tmp_path / "site" / path.group(1)).write_text(code)
        else:
            session.append(code)
    assert {p.name for p in package.iterdir()} >= {"plugin.py", "tokenizer.py", "constraint.py"}
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.chdir(tmp_path)
    plugin = importlib.import_module("arkit_mydomain.plugin")
    namespace: dict[str, Any] = {"__name__": "writing_a_plugin"}
    try:
        with register_plugin(plugin, "mydomain"):
            for i, code in enumerate(session):
                exec(compile(code, f"docs/writing-a-plugin.md, python block {i}", "exec"), namespace)
            contracts = {n: c for n, c in namespace.items() if n.startswith("Test") and isinstance(c, type)}
            assert set(contracts) == {"TestCharTokenizer", "TestValidWords"}
            for cls in contracts.values():
                assert "test_save_and_load_round_trip" in _run_contract(cls, tmp_path)
            with contextlib.ExitStack() as stack:  # the fixture, as arkit's pytest plugin provides it
                namespace["test_my_sampler"](lambda p, name: stack.enter_context(register_plugin(p, name)))
    finally:
        for module in [m for m in sys.modules if m.split(".")[0] == "arkit_mydomain"]:
            del sys.modules[module]


def test_hooks_reference_runs_as_written() -> None:
    namespace: dict[str, Any] = {"__name__": "hooks_reference"}
    for i, code in enumerate(_blocks("hooks.md")):
        exec(compile(code, f"docs/hooks.md, python block {i}", "exec"), namespace)
    balanced = namespace["Balanced"]
    with register_plugin(types.SimpleNamespace(arkit_register_constraints=namespace["arkit_register_constraints"]),
                         "mydomain"):
        assert arkit.create("constraint", "mydomain/balanced", depth=1).allowed(1) == [2, 1]
    assert balanced(depth=3).config == {"depth": 3}
