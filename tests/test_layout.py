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
