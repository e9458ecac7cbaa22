"""``arkit new-plugin``: the package it writes installs, loads, and passes its own contract tests."""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path
import subprocess
import sys
import tomllib

import pytest

import arkit
from arkit._scaffold import KINDS, write_plugin
from arkit.cli import main


def test_the_package_has_the_documented_layout(tmp_path: Path) -> None:
    path = write_plugin("dna-kmers", tmp_path / "pkg", kinds=["tokenizer", "constraint"])
    files = sorted(str(f.relative_to(path)) for f in path.rglob("*") if f.is_file())
    assert files == [
        "CHANGELOG.md", "README.md", "pyproject.toml",
        "src/arkit_dna_kmers/__init__.py", "src/arkit_dna_kmers/constraint.py", "src/arkit_dna_kmers/plugin.py",
        "src/arkit_dna_kmers/py.typed", "src/arkit_dna_kmers/tokenizer.py", "tests/test_contracts.py",
    ]
    project = tomllib.loads((path / "pyproject.toml").read_text())
    assert project["project"]["name"] == "arkit-dna-kmers" and project["project"]["license"] == "Apache-2.0"
    assert project["project"]["entry-points"]["arkit"] == {"dna-kmers": "arkit_dna_kmers.plugin"}
    major, minor = arkit.__version__.split(".")[:2]
    assert project["project"]["dependencies"][0].startswith(f"arkit>={major}.{minor},<")
    plugin = (path / "src/arkit_dna_kmers/plugin.py").read_text()
    assert "arkit_register_tokenizers" in plugin and "arkit_register_constraints" in plugin
    assert "arkit_register_samplers" not in plugin
    tests = (path / "tests/test_contracts.py").read_text()
    assert "class TestCharTokenizer(TokenizerContract)" in tests
    assert "class TestLengthLimit(ConstraintContract)" in tests
    for source in path.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")


@pytest.mark.parametrize(
    ("name", "kinds", "message"),
    [
        ("My_Plugin", ["tokenizer"], "lowercase letters, digits and single hyphens"),
        ("core", ["tokenizer"], "arkit's own namespace"),
        ("ok", ["backbone"], "cannot scaffold kinds ['backbone']"),
        ("ok", [], "cannot scaffold kinds (none)"),
    ],
)
def test_bad_requests_are_refused_before_writing(tmp_path: Path, name: str, kinds: list[str], message: str) -> None:
    with pytest.raises(arkit.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        write_plugin(name, tmp_path / "pkg", kinds=kinds)
    assert list(tmp_path.iterdir()) == []


def test_an_installed_plugins_name_is_refused(tmp_path: Path) -> None:
    taken = next(iter(importlib.metadata.entry_points(group="arkit")), None)
    if taken is None:
        pytest.skip("no plugin installed in this environment")
    with pytest.raises(arkit.ConfigError, match="already used by the installed distribution"):
        write_plugin(taken.name, tmp_path / "pkg")


def test_an_existing_folder_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mine.txt").write_text("precious")
    assert main(["new-plugin", "fresh", "--out", str(tmp_path / "pkg")]) == 1
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "pkg").iterdir()] == ["mine.txt"]
    assert main(["new-plugin", "fresh", "--out", str(tmp_path / "new"), "--json"]) == 0
    assert "pyproject.toml" in json.loads(capsys.readouterr().out)["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "pkg"]  # no temporary folder left behind


@pytest.mark.slow  # pip builds a wheel and a second pytest runs five contracts: about 35 s on 2 shared cores
def test_the_scaffold_installs_loads_and_passes_its_own_tests(tmp_path: Path) -> None:
    """Every kind at once: pip builds and installs it (no network), arkit finds it, its contract tests pass."""
    package = write_plugin("dna-kmers", tmp_path / "arkit-dna-kmers", kinds=list(KINDS))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(package)],
                   check=True, capture_output=True, cwd=tmp_path)
    others = ",".join(ep.name for ep in importlib.metadata.entry_points(group="arkit"))  # keep the run small
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARKIT_", "PYTEST_"))}
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS="1", ARKIT_DISABLE_PLUGINS=others or "none")

    check = subprocess.run([sys.executable, "-m", "arkit", "plugins", "--check", "--json"], capture_output=True,
                           text=True, cwd=tmp_path, env=env)
    assert check.returncode == 0, check.stderr
    listed = {p["name"]: p for p in json.loads(check.stdout)}
    assert listed["dna-kmers"]["distribution"] == "arkit-dna-kmers" and listed["dna-kmers"]["error"] is None
    assert len(listed["dna-kmers"]["components"]) == len(KINDS)

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package / "tests")],
                           capture_output=True, text=True, cwd=package, env=env)
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
