"""Markdown tables of an evaluation's JSON, for ``docs/molecules.md``.

The docs hold the tables between ``<!-- eval:begin -->`` and ``<!-- eval:end -->``;
:func:`update_markdown` rewrites that block from the JSON that ``arkit molecules eval
--out docs/img/molecules`` committed, and the plugin's tests check that the docs
equal what :func:`render_tables` makes of that JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import tempfile
from typing import Any

from arkit import InputError

__all__ = ["BEGIN", "END", "render_tables", "update_markdown", "write_markdown"]

BEGIN = "<!-- eval:begin -->"
END = "<!-- eval:end -->"

_COLUMNS = (
    ("valid", "valid"), ("unique", "unique"), ("novel", "novel (full train)"), ("fcd", "FCD"),
    ("fcd_floor", "FCD floor"), ("snn", "SNN"), ("frag", "Frag"), ("scaf", "Scaf"), ("int_div", "IntDiv"),
    ("filters", "filters"), ("large_ring_rate", "rings >= 8"), ("macrocycle_rate", "rings >= 12"),
    ("qed_w1", "QED W1"), ("sa_w1", "SA W1"), ("logp_w1", "logP W1"), ("weight_w1", "MW W1"),
)


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def render_tables(results: Mapping[str, Any]) -> str:
    """The metrics table (runs, then the test set's real twin) and the targets table, as Markdown."""
    header = "| run | " + " | ".join(label for _, label in _COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(_COLUMNS) + 1)]
    for name, row in results["runs"].items():
        lines.append(f"| {name} | " + " | ".join(_cell(row.get(key)) for key, _ in _COLUMNS) + " |")
    test, twin = results["test"], results["test"]["twin"]
    real = {**twin, "large_ring_rate": test["large_ring_rate"], "macrocycle_rate": test["macrocycle_rate"],
            "filters": test["filters"]}
    lines.append("| MOSES test (real twin) | " + " | ".join(
        _cell(real.get(key)) if key in real else "" for key, _ in _COLUMNS) + " |")
    limit = results.get("constraint", {}).get("max_ring_size")
    for name, row in results["runs"].items():
        if row.get("intervention"):
            i = row["intervention"]
            ring = "" if limit is None else f" rings of at most {limit} atoms, {results['constraint']['source']};"
            lines += ["", f"Constraint ({name}):{ring} the model's most likely token was forbidden at "
                          f"{_cell(100 * i['argmax_removed'], 2)} % of {i['steps']} positions; mean probability mass "
                          f"removed {_cell(100 * i['mass_removed'], 2)} %."]
    lines += ["", "| target | value | threshold | met |", "|---|---|---|---|"]
    for t in results["targets"]:
        lines.append(f"| {t['name']} | {_cell(t['value'], 4)} | {t['target']} | {_cell(bool(t['met']))} |")
    return "\n".join(lines)


def update_markdown(markdown: str, results: Mapping[str, Any]) -> str:
    """``markdown`` with the block between :data:`BEGIN` and :data:`END` replaced by :func:`render_tables`."""
    if markdown.count(BEGIN) != 1 or markdown.count(END) != 1 or markdown.index(BEGIN) > markdown.index(END):
        raise InputError(f"the Markdown needs exactly one {BEGIN} ... {END} block for the eval tables")
    head, rest = markdown.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{render_tables(results)}\n{END}{tail}"


def write_markdown(path: str | os.PathLike[str], results: Mapping[str, Any]) -> Path:
    """Rewrite the eval block of the Markdown file at ``path`` in place (atomically)."""
    target = Path(path)
    text = update_markdown(target.read_text(), results)
    fd, tmp = tempfile.mkstemp(suffix=".md", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
