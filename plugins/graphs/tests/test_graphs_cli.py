"""The plugin as installed: entry point, registry, presets, and `arkit graphs eval --json`'s targets."""

from __future__ import annotations

import argparse
import json

import pytest

import arkit
from arkit_graphs.cli import add_arguments, run


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_the_plugin_and_its_components_are_registered() -> None:
    assert "graphs" in {p.name for p in arkit.list_plugins()}
    names = {c.name for c in arkit.list_components(pattern="graphs/*")}
    assert {"graphs/bfs-adjacency", "graphs/edge-list", "graphs/bfs-layers", "graphs/bfs"} <= names
    pipe = arkit.Pipeline.from_preset("graphs/bfs-small", backbone={"n_layers": 1})
    assert pipe.tokenizer.fitted is False and pipe.tokenizer.vocab_size == pipe.head.vocab_size


def test_eval_json_prints_targets_in_the_core_form(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(_args("eval", "--parts", "atlas", "--atlas-samples", "150", "--json"))
    report = json.loads(capsys.readouterr().out)
    names = [t["name"] for t in report["targets"]]
    assert len(names) == 3 and all(set(t) == {"name", "value", "target", "met"} for t in report["targets"])
    assert code == (0 if all(t["met"] for t in report["targets"]) else 1)
    assert set(report["atlas"]["runs"]) == {"plain", "speculative", "biased"}


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(arkit.ConfigError, match="--parts"):
        run(_args("eval", "--parts", "proteins"))
    with pytest.raises(arkit.ConfigError, match="--samples must be >= 1"):
        run(_args("eval", "--samples", "0"))
