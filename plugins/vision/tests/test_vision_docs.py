"""docs/vision.md's eval tables are the committed eval JSON (docs/img/vision/eval.json), rendered."""

from __future__ import annotations

import json
from pathlib import Path
import re

import pytest

import arkit
from arkit_vision.report import tables, update_markdown

ROOT = Path(__file__).resolve().parents[3]
DOCS, REPORT = ROOT / "docs" / "vision.md", ROOT / "docs" / "img" / "vision" / "eval.json"

pytestmark = pytest.mark.skipif(not DOCS.is_file() or not REPORT.is_file(), reason="runs in the repository checkout")


@pytest.fixture(scope="module")
def report():
    return json.loads(REPORT.read_text())


def test_docs_tables_are_the_committed_eval_json(report):
    text = DOCS.read_text()
    blocks = dict(re.findall(r"<!-- eval:([a-z_]+) -->\n(.*?)<!-- /eval:\1 -->", text, re.S))
    rendered = tables(report)
    assert set(blocks) == set(rendered), "docs/vision.md shows every table of the eval, and only those"
    for name, body in blocks.items():
        assert body == rendered[name], f"the {name!r} table differs from eval.json: run scripts/render_docs.py"
    assert update_markdown(text, report) == text


def test_committed_report_is_a_full_three_seed_run_with_a_target_per_model(report):
    assert report["seeds"] == [0, 1, 2] and not report["from_scratch"]
    names = [t["name"] for t in report["targets"]]
    for model in ("digits_raster", "digits_next_scale", "shapes_raster", "shapes_next_scale", "lantern"):
        assert any(n.startswith(model) for n in names), model
    for target in report["targets"]:  # 'met' is what value and limit say
        at_most = " at most" in target["name"] or " below" in target["name"]
        assert target["met"] == (target["value"] <= target["target"] if at_most else target["value"] >= target["target"])


def test_markdown_blocks_need_a_table():
    with pytest.raises(arkit.InputError, match="no table"):
        update_markdown("<!-- eval:cats -->\nx\n<!-- /eval:cats -->\n", {"targets": []})
    with pytest.raises(arkit.InputError, match="targets"):
        tables({"digits": {}})


def test_merge_joins_disjoint_parts_and_refuses_overlaps(report):
    from arkit_vision.report import merge

    digits = {"digits": report["digits"], "seeds": report["seeds"], "from_scratch": False, "options": {}, "targets": []}
    lantern = {"lantern": report["lantern"], "seeds": report["seeds"], "from_scratch": False, "options": {},
               "targets": []}
    merged = merge([digits, lantern])
    assert merged["targets"] == [t for t in report["targets"] if not t["name"].startswith("shapes")]
    with pytest.raises(arkit.InputError, match="two of the reports"):
        merge([digits, digits])
    with pytest.raises(arkit.InputError, match="same seeds"):
        merge([digits, {**lantern, "seeds": [0]}])
