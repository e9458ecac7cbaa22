"""Documentation stays in step with the code (datasette's meta-tests)."""

from __future__ import annotations

import inspect
from pathlib import Path
import re

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
