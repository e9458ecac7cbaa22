"""Repository layout rules that pytest itself only reports as a collection error."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_test_module_names_are_unique_across_core_and_plugins() -> None:
    """Plugin test folders are not packages, so two ``test_x.py`` files would clash on import."""
    names = Counter(p.name for folder in ("tests", "plugins") for p in (ROOT / folder).rglob("test_*.py")
                    if ".venv" not in p.parts)
    assert not [n for n, c in names.items() if c > 1], "name plugin tests test_<domain>_*.py"


def test_arkit_imports_from_a_folder_that_holds_a_clone_named_arkit(tmp_path: Path) -> None:
    """The src layout: a folder named ``arkit`` in the working directory (the clone itself, seen
    from its parent) must not shadow the installed package as a namespace package."""
    import subprocess
    import sys

    clone = tmp_path / "arkit"
    (clone / "src").mkdir(parents=True)
    (clone / "README.md").write_text("a clone of the repository\n")
    for cwd in (tmp_path, ROOT.parent):
        done = subprocess.run([sys.executable, "-c", "import arkit.testing, arkit; print(arkit.__file__)"],
                              cwd=cwd, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("__init__.py")


def test_package_data_ships_every_checkpoint_file() -> None:
    """Every file under a distribution's ``checkpoints/`` folder matches one of its package-data patterns, so a
    wheel (not only an editable install) carries the weights. (``checkpoints/*/*`` once left out every file one
    folder deeper: core/ref-text's wheel had no weights.)"""
    import glob
    import tomllib

    missing = []
    for project in [ROOT, *sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))]:
        data = tomllib.loads((project / "pyproject.toml").read_text())
        for package, patterns in data.get("tool", {}).get("setuptools", {}).get("package-data", {}).items():
            folder = project / "src" / package
            shipped = {Path(f) for pattern in patterns for f in glob.glob(pattern, root_dir=folder, recursive=True)}
            files = {p.relative_to(folder) for p in (folder / "checkpoints").rglob("*") if p.is_file()}
            missing += [f"{package}/{f}" for f in sorted(files - shipped)
                        if "__pycache__" not in f.parts and f.suffix != ".py"]  # modules ship as code
    assert not missing, f"files no package-data pattern ships: {missing[:10]}"
