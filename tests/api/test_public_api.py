"""The public surface changes only on purpose: this test fails until the snapshot is regenerated.

Regenerate with ``python -m tests.api.surface > tests/api/public_api.txt``, then
review the diff and say what changed in CHANGELOG.md.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from pathlib import Path

import arkit
from tests.api.surface import render

SNAPSHOT = Path(__file__).with_name("public_api.txt")


def test_public_api_matches_snapshot() -> None:
    expected = SNAPSHOT.read_text()
    actual = render()
    diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), "snapshot", "current"))
    assert actual == expected, (
        "arkit's public surface changed. If on purpose, run `python -m tests.api.surface > "
        f"tests/api/public_api.txt` and add a CHANGELOG entry.\n{diff}"
    )


def test_all_names_exist_and_are_unique() -> None:
    assert len(arkit.__all__) == len(set(arkit.__all__))
    for name in arkit.__all__:
        assert hasattr(arkit, name), name


def test_public_namespace_has_nothing_unlisted() -> None:
    """Every public-looking attribute of the package is either in __all__ or a submodule."""
    extra = {
        name
        for name in dir(arkit)
        if name.isidentifier() and not name.startswith("_") and name not in arkit.__all__
        and not inspect.ismodule(getattr(arkit, name))
    }
    assert not extra, f"public names missing from __all__ (add them or make them private): {sorted(extra)}"


def test_submodules_import_cleanly() -> None:
    for module in pkgutil.walk_packages(arkit.__path__, "arkit."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def test_package_is_typed() -> None:
    assert (Path(arkit.__file__).parent / "py.typed").is_file()
