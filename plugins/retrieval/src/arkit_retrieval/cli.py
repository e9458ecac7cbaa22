"""``arkit retrieval demo | eval | search | bench``.

- ``eval [--json] [--pipeline DIR] [--known N] [--held-out N] [--validation N] [--no-scale] [--no-drafter]``:
  Hits@1/10 and MRR@10 of the generative retriever, BM25 and the hybrid on the
  docstring split (the hybrid's fusion chosen on the validation sentences),
  valid-id rates, queries per second, the constraint cost at scale and the
  datastore drafter, with a ``targets`` list.
- ``demo [--out DIR]``: load the shipped retriever (it indexed the docstring
  corpus), print results for a few typed queries next to BM25, and write the
  metrics table (``metrics.md``, ``metrics.json``) to ``DIR``.
- ``search DIR "query" [-k 10]``: search with a saved pipeline folder.
- ``bench [--json]``: plain decoding vs the datastore drafter (target calls, wall time).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any

__all__ = ["arguments", "run"]

DEMO_QUERIES = (
    "Return the number of days in a month",
    "compile a regular expression pattern into an object",
    "join two or more path components",
    "serialize an object to a JSON formatted string",
    "the greatest common divisor of the integers",
)


def arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="retrieval_command", required=True)
    ev = sub.add_parser("eval", help="generative retrieval vs BM25 vs hybrid, valid-id rates, targets")
    ev.add_argument("--json", action="store_true", help="print the result as JSON")
    ev.add_argument("--pipeline", type=Path, help="a saved retriever pipeline (default: the shipped one)")
    ev.add_argument("--known", type=int, default=1000, help="known-item queries sampled (0: all)")
    ev.add_argument("--held-out", type=int, default=0, help="held-out queries used (0: all)")
    ev.add_argument("--validation", type=int, default=0,
                    help="validation queries the hybrid's fusion is chosen on (0: all)")
    ev.add_argument("--beams", type=int, default=10)
    ev.add_argument("--no-scale", action="store_true", help="skip the 138k-name constraint-cost measurement")
    ev.add_argument("--no-drafter", action="store_true", help="skip the datastore drafter bench (it trains a model)")
    demo = sub.add_parser("demo", help="search the docstring corpus for a few queries; write the metrics table")
    demo.add_argument("--out", type=Path, default=Path("retrieval-demo"))
    demo.add_argument("--query", action="append", help="a query (repeatable; default: a few built-in ones)")
    demo.add_argument("--known", type=int, default=300, help="known-item queries in the metrics table")
    demo.add_argument("--held-out", type=int, default=300, help="held-out queries in the metrics table")
    demo.add_argument("--validation", type=int, default=300, help="validation queries the hybrid's fusion is chosen on")
    se = sub.add_parser("search", help="search with a saved pipeline folder")
    se.add_argument("pipeline", type=Path)
    se.add_argument("query", nargs="+")
    se.add_argument("-k", type=int, default=10)
    se.add_argument("--json", action="store_true")
    be = sub.add_parser("bench", help="plain vs datastore drafting: target calls and wall time")
    be.add_argument("--json", action="store_true")
    be.add_argument("--steps", type=int, default=300, help="training steps of the workload's model")


def _retriever(path: Path | None) -> Any:
    from .presets import pretrained_retriever
    from .retriever import Retriever

    return Retriever.from_pretrained(path) if path is not None else pretrained_retriever()


def _table(rows: dict[str, Any]) -> str:
    lines = ["| system / queries | n | Hits@1 | Hits@10 | MRR@10 | queries/s |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['queries']} | {r['hits@1']:.3f} | {r['hits@10']:.3f} | {r['mrr@10']:.3f} | {r['qps']} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    import arkit

    torch.set_num_threads(1)
    try:
        if args.retrieval_command == "eval":
            return _eval(args)
        if args.retrieval_command == "demo":
            return _demo(args)
        if args.retrieval_command == "search":
            return _search(args)
        return _bench(args)
    except arkit.ArkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _eval(args: argparse.Namespace) -> int:
    from .bench import datastore_bench
    from .evaluation import evaluate, targets
    from .scale import constraint_cost

    retriever = _retriever(args.pipeline)
    report = evaluate(retriever, known_limit=args.known or None, held_out_limit=args.held_out or None,
                      validation_limit=args.validation or None, num_beams=args.beams)
    scale = None if args.no_scale else constraint_cost()
    drafter = None if args.no_drafter else datastore_bench()
    report["constraint_cost"] = scale
    report["datastore"] = drafter
    report["targets"] = targets(report, scale, drafter)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(_table(report["rows"]))
        fusion = report["fusion"]
        print(f"hybrid fusion: {fusion['method']} weight {fusion['weight']} (chosen on {fusion['queries']} validation queries)")
        print("valid-id rate:", json.dumps(report["valid_id_rate"]))
        for t in report["targets"]:
            print(f"{'MET ' if t['met'] else 'MISS'} {t['name']}: {t['value']} (target {t['target']})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .bm25 import BM25
    from .corpus import split_queries, stdlib_docs
    from .evaluation import evaluate

    retriever = _retriever(None)
    queries = args.query or list(DEMO_QUERIES)
    bm25 = BM25().index(list(split_queries(stdlib_docs(), seed=0).indexed))
    generative = retriever.search(queries, k=3)
    lexical = bm25.search(queries, k=3)
    print("| query | generative top 3 (log p) | BM25 top 3 |")
    print("|---|---|---|")
    for q, g, b in zip(queries, generative, lexical):
        gen = ", ".join(f"{d} ({s:.2f})" for d, s in g)
        lex = ", ".join(d for d, _ in b)
        print(f"| {q} | {gen} | {lex} |")
    report = evaluate(retriever, known_limit=args.known, held_out_limit=args.held_out,
                      validation_limit=args.validation, valid_queries=50)
    args.out.mkdir(parents=True, exist_ok=True)
    table = _table(report["rows"])
    (args.out / "metrics.md").write_text(table + "\n\nvalid-id rate: " + json.dumps(report["valid_id_rate"]) + "\n")
    (args.out / "metrics.json").write_text(json.dumps(report, indent=1))
    _plot(report["rows"], args.out / "metrics.png")
    print()
    print(table)
    print(f"\nwrote {args.out / 'metrics.md'} and {args.out / 'metrics.json'}")
    return 0


def _plot(rows: dict[str, Any], path: Path) -> None:
    """Grouped bars: Hits@1, Hits@10 and MRR@10 of every system on both query sets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    metrics = ("hits@1", "hits@10", "mrr@10")
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    width = 0.8 / len(metrics)
    for j, m in enumerate(metrics):
        ax.bar([i + j * width for i in range(len(names))], [rows[n][m] for n in names], width, label=m)
    ax.set_xticks([i + width for i in range(len(names))], [n.replace("/", "\n") for n in names], fontsize=8)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("stdlib docstrings: generative retrieval vs BM25 vs hybrid", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _search(args: argparse.Namespace) -> int:
    retriever = _retriever(args.pipeline)
    results = retriever.search(args.query, k=args.k)
    if args.json:
        print(json.dumps([{"query": q, "results": [{"doc_id": d, "score": s} for d, s in r]}
                          for q, r in zip(args.query, results)], indent=1))
        return 0
    for q, r in zip(args.query, results):
        print(q)
        for rank, (d, s) in enumerate(r, 1):
            print(f"  {rank:2d}. {d}  {s:.3f}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .bench import datastore_bench

    report = datastore_bench(steps=args.steps)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0
