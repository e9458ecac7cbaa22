"""Rewrite the eval tables of docs/vision.md from the eval's JSON committed next to its images.

    arkit vision eval --json > docs/img/vision/eval.json
    python plugins/vision/scripts/render_docs.py            # docs/vision.md's <!-- eval:NAME --> blocks
    # or from parts run separately (disjoint --sections / --models, same seeds): merged, targets recomputed
    python plugins/vision/scripts/render_docs.py --merge a.json b.json c.json

``plugins/vision/tests/test_vision_docs.py`` checks that the committed docs equal what this writes.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from arkit_vision.report import merge, update_markdown

ROOT = Path(__file__).resolve().parents[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--report", type=Path, default=ROOT / "docs/img/vision/eval.json")
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs/vision.md")
    parser.add_argument("--merge", type=Path, nargs="+", default=None,
                        help="eval reports of disjoint parts: merge them into --report first")
    args = parser.parse_args()
    if args.merge:
        report = merge([json.loads(path.read_text()) for path in args.merge])
        tmp = args.report.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, args.report)
        print(f"merged {len(args.merge)} reports into {args.report}")
    text = update_markdown(args.markdown.read_text(), json.loads(args.report.read_text()))
    tmp = args.markdown.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, args.markdown)
    print(f"updated {args.markdown} from {args.report}")


if __name__ == "__main__":
    main()
