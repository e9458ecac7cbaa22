"""Rewrite the eval tables in ``docs/molecules.md`` from ``docs/img/molecules/eval.json``.

    arkit molecules eval --out docs/img/molecules      # eval.json and the figures
    python plugins/molecules/scripts/render_docs.py   # the tables between <!-- eval:begin --> and <!-- eval:end -->

``plugins/molecules/tests/test_molecules_pretrained.py`` checks that the docs equal what
this script writes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from arkit_molecules.report import write_markdown

_REPO = Path(__file__).resolve().parents[3]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eval", type=Path, default=_REPO / "docs" / "img" / "molecules" / "eval.json")
    parser.add_argument("--docs", type=Path, default=_REPO / "docs" / "molecules.md")
    args = parser.parse_args()
    write_markdown(args.docs, json.loads(args.eval.read_text()))
    print(f"rewrote the eval tables of {args.docs} from {args.eval}")


if __name__ == "__main__":
    main()
