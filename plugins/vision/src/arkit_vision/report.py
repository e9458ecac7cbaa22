"""Markdown tables from the JSON of ``arkit vision eval --json``: what docs/vision.md shows.

The docs hold each table between ``<!-- eval:NAME -->`` and ``<!-- /eval:NAME -->`` markers;
:func:`update_markdown` rewrites those blocks from a report, and the plugin's tests check that the
committed docs equal what :func:`tables` renders from the committed ``docs/img/vision/eval.json``.
"""

from __future__ import annotations

import re
from typing import Any

import arkit

__all__ = ["merge", "tables", "update_markdown"]

_BLOCK = re.compile(r"(<!-- eval:(?P<name>[a-z_]+) -->\n)(?P<body>.*?)(<!-- /eval:(?P=name) -->)", re.S)


def _pm(stat: dict[str, Any], digits: int = 3) -> str:
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _decoding(settings: dict[str, Any]) -> str:
    """How a model was sampled, e.g. ``"guidance 1.5, temperature 0.8, top-p 0.9"``."""
    from .evaluation import Decoding

    return Decoding(**settings).describe()


def _models_table(section: dict[str, Any], names: list[str]) -> str:
    header = ["model", "decoding", "calls / image", "accuracy (MLP)", "accuracy (CNN)", "FD / floor (MLP)",
              "FD / floor (CNN)", "near copies", "test bits / token"]
    rows = []
    for name in names:
        if name not in section:
            continue
        row = section[name]
        bits = _pm(row["test_bits_per_token"]) if "test_bits_per_token" in row else "–"
        decoding = _decoding(row["decoding"])
        rows.append([name, decoding, f"{row['model_calls_per_image']:g}",
                     _pm(row["mlp_accuracy"]), _pm(row["cnn_accuracy"]), _pm(row["mlp_fd_over_floor"], 2),
                     _pm(row["cnn_fd_over_floor"], 2), _pm(row["near_copy_rate"]), bits])
    real = section["real"]
    reference = f"real test images ({section['data']['samples_per_seed']} samples per seed vs {section['data']['test']} test)"
    rows.append([reference, "–", "–", f"{real['mlp_test_accuracy']:.3f}", f"{real['cnn_test_accuracy']:.3f}",
                 f"floor {real['mlp_frechet_floor']:.3f}", f"floor {real['cnn_frechet_floor']:.3f}",
                 f"{real['test_near_copy_rate']:.3f}",
                 f"{real['independent_pixel_bits']:.3f} (independent pixels)" if "independent_pixel_bits" in real
                 else "–"])
    return _table(header, rows)


def _lantern_table(section: dict[str, Any]) -> str:
    header = ["method", "TV bound / position", "target calls / image", "fewer calls than best exact",
              "acceptance", "accuracy", "accuracy drop vs plain"]
    rows = []
    for name, row in section["methods"].items():
        bound = row["tv_bound_per_position"]
        label = f"**{name}** (default)" if name == section["default"] else name
        rows.append([label, "none" if bound is None else f"{bound:g}", _pm(row["target_calls_per_image"], 1),
                     _pm(row["call_reduction_vs_best_exact"], 2) if "call_reduction_vs_best_exact" in row else "–",
                     f"{row['acceptance_rate']:.3f}" if "acceptance_rate" in row else "–",
                     _pm(row["accuracy"]), _pm(row["accuracy_drop_vs_plain"])])
    return _table(header, rows)


def _targets_table(targets: list[dict[str, Any]]) -> str:
    return _table(["target", "value", "limit", "met"],
                  [[t["name"], f"{t['value']:g}", f"{t['target']:g}", "yes" if t["met"] else "**no**"]
                   for t in targets])


def tables(report: dict[str, Any]) -> dict[str, str]:
    """The markdown tables of a report, by block name: ``digits``, ``shapes``, ``lantern``, ``targets`` (those
    whose sections the report has)."""
    if not isinstance(report, dict) or "targets" not in report:
        raise arkit.InputError("expected the JSON object `arkit vision eval --json` prints (with a 'targets' list)")
    out = {}
    if "digits" in report:
        out["digits"] = _models_table(report["digits"], ["digits_raster", "digits_next_scale"])
    if "shapes" in report:
        out["shapes"] = _models_table(report["shapes"], ["shapes_raster", "shapes_next_scale"])
    if "lantern" in report:
        out["lantern"] = _lantern_table(report["lantern"])
    out["targets"] = _targets_table(report["targets"])
    return out


def update_markdown(text: str, report: dict[str, Any]) -> str:
    """``text`` with every ``<!-- eval:NAME -->`` block replaced by the table ``NAME`` of ``report``."""
    rendered = tables(report)
    missing = [m.group("name") for m in _BLOCK.finditer(text) if m.group("name") not in rendered]
    if missing:
        raise arkit.InputError(f"the report has no table for the blocks {missing}; run the eval's sections they show")
    return _BLOCK.sub(lambda m: m.group(1) + rendered[m.group("name")] + m.group(4), text)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from reports of ``arkit vision eval --json`` run on disjoint sections or models (the same
    seeds, shipped or from-scratch models), with its targets recomputed; ``options`` lists each part's.

    The eval is deterministic for the shipped checkpoints (seeded sampling and judges), so the merged
    figures are those one run with every section prints."""
    from .evaluation import _targets

    if not parts:
        raise arkit.InputError("merge needs at least one eval report")
    for part in parts:
        if not isinstance(part, dict) or "targets" not in part or "options" not in part:
            raise arkit.InputError("expected the JSON objects `arkit vision eval --json` prints")
        if part["seeds"] != parts[0]["seeds"] or part["from_scratch"] != parts[0]["from_scratch"]:
            raise arkit.InputError("the reports to merge must have the same seeds and the same from_scratch")
    out: dict[str, Any] = {"from_scratch": parts[0]["from_scratch"], "seeds": parts[0]["seeds"],
                           "options": [part["options"] for part in parts]}
    for part in parts:
        for section in ("digits", "shapes"):
            if section in part:
                merged = out.setdefault(section, {})
                for key, value in part[section].items():
                    if key in merged and key in ("data", "real") and merged[key] != value:
                        raise arkit.InputError(f"the reports disagree on {section}.{key}: not the same data or judges")
                    if key in merged and key not in ("data", "real"):
                        raise arkit.InputError(f"{section}.{key} is in two of the reports to merge")
                    merged[key] = value
        if "lantern" in part:
            if "lantern" in out:
                raise arkit.InputError("lantern is in two of the reports to merge")
            out["lantern"] = part["lantern"]
    out["targets"] = _targets(out)
    out["seconds"] = round(sum(part.get("seconds", 0.0) for part in parts), 1)
    return out
