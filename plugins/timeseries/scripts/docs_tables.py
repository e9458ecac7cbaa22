"""Rewrite the tables in ``docs/timeseries.md`` from the evaluation JSON committed next to them.

    arkit timeseries eval --json --samples 100 --plots docs/img/timeseries > docs/img/timeseries/eval.json
    arkit timeseries eval --json --samples 100 --no-detrend --baselines seasonal-naive --no-plots \\
        > docs/img/timeseries/eval-no-detrend.json
    python plugins/timeseries/scripts/docs_tables.py

Each ``<!-- NAME:start -->`` ... ``<!-- NAME:end -->`` block gets
``arkit_timeseries.evaluation.markdown_tables`` of its JSON; the docs test checks the same.
"""

from __future__ import annotations

import json
from pathlib import Path

from arkit_timeseries.evaluation import markdown_tables

ROOT = Path(__file__).resolve().parents[3]
BLOCKS = {"eval-tables": "eval.json", "ablation-tables": "eval-no-detrend.json"}


def main() -> None:
    docs = ROOT / "docs" / "timeseries.md"
    text = docs.read_text()
    for marker, name in BLOCKS.items():
        result = json.loads((ROOT / "docs" / "img" / "timeseries" / name).read_text())
        start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
        if start not in text or end not in text.split(start, 1)[1]:
            raise SystemExit(f"{docs} lacks the {marker} markers")
        before, rest = text.split(start, 1)
        text = before + start + "\n" + markdown_tables(result) + "\n" + end + rest.split(end, 1)[1]
    docs.write_text(text)
    print(f"rewrote {len(BLOCKS)} tables in {docs}")


if __name__ == "__main__":
    main()
