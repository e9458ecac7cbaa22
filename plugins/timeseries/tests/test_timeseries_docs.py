"""docs/timeseries.md shows the tables of the evaluation JSON committed next to it, and that JSON is consistent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arkit_timeseries import splits
from arkit_timeseries.evaluation import markdown_tables

_DOCS = Path(__file__).resolve().parents[3] / "docs"
_JSON = _DOCS / "img" / "timeseries" / "eval.json"

pytestmark = pytest.mark.skipif(not _JSON.is_file(), reason="needs the repository's docs (not an installed copy)")


@pytest.mark.parametrize(("marker", "name"), [("eval-tables", "eval.json"), ("ablation-tables", "eval-no-detrend.json")])
def test_the_docs_tables_are_the_committed_json(marker: str, name: str) -> None:
    result = json.loads((_JSON.parent / name).read_text())
    text = (_DOCS / "timeseries.md").read_text()
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    assert start in text and end in text, f"docs/timeseries.md lacks the {marker} markers"
    assert text.split(start)[1].split(end)[0] == "\n" + markdown_tables(result) + "\n"


def test_the_committed_json_is_a_full_default_run_with_honest_targets() -> None:
    result = json.loads(_JSON.read_text())
    assert result["config"]["pipeline"] == "shipped timeseries/chronos-mini" and result["config"]["detrend"]
    assert {"seasonal-naive", "seasonal-arima"} <= set(result["aggregate"])
    assert sorted(result["series"]) == sorted(s.name for s in splits.splits())
    assert len(result["targets"]) == 6 and result["met"] == all(t["met"] for t in result["targets"])
    assert all(t["met"] == (t["value"] < t["target"]) for t in result["targets"])
    for group, scores in result["groups"].items():
        members = [n for n, row in result["series"].items() if row["group"] == group]
        assert scores["chronos-mini"]["series"] == len(members)
