"""``arkit graphs eval``: the issue's targets, measured on the shipped checkpoints (or pipelines you pass).

- **trees**: V.U.N. and MMD² (degree, clustering, spectral, 4-node graphlets) of samples from the
  ``graphs/bfs-adjacency`` model, free and under ``graphs/bfs`` with ``tree=True``, next to the
  train-versus-test floor, an Erdős–Rényi baseline and the held-out trees' own uniqueness and novelty;
- **block-wise trees**: the ``graphs/bfs-layers`` model sampled a BFS layer per call, with the
  model calls per graph against node-by-node decoding of the BFS-adjacency model;
- **community-small**: the same metrics (clustering MMD² is the one trees cannot test: it is 0 there),
  plus the mean number of edges across a Kernighan-Lin bisection (few when a graph has two
  dense communities), for the samples and the held-out graphs;
- **atlas**: the exact-distribution test (:mod:`arkit_graphs.exact`), plain, speculative and biased.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import random
import time
from typing import Any

import numpy as np

import arkit

from .constraint import BfsConstraint
from .datasets import atlas_graphs, load_dataset
from .graph import Graph
from .metrics import bisection_cut, mmd_table, summary, vun
from .sampling import GraphSamples, sample_graphs

__all__ = ["atlas_report", "blockwise_report", "dataset_report", "evaluate", "targets"]


def _row(samples: GraphSamples, graphs: Sequence[Graph], train: Sequence[Graph], test: Sequence[Graph],
         rule: str, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = vun(graphs, train, rule, well_formed=samples.well_formed)
    row["well_formed"] = float(np.mean(samples.well_formed))
    row["mmd"] = mmd_table(graphs, test, train, seed=seed)
    row.update({f"mean_{k}": v for k, v in summary(graphs).items()})
    row["tokens_per_graph"] = float(np.mean([len(t) for t in samples.tokens]))
    row["finish_reasons"] = samples.finish_reasons
    if samples.intervention is not None:
        row["intervention"] = samples.intervention.as_dict()
    return row


def dataset_report(pipe: arkit.Pipeline, dataset: str, *, samples: int = 500, seed: int = 0,
                   rules: dict[str, Any] | None = None) -> dict[str, Any]:
    """Free and constrained samples of a BFS-adjacency pipeline on ``dataset`` (rules: the constraint's)."""
    data = load_dataset(dataset, seed=seed)
    free = sample_graphs(pipe, samples, seed=seed)
    constraint = BfsConstraint.for_tokenizer(pipe.tokenizer, **(rules or {}))
    constrained = sample_graphs(pipe, samples, constraint=constraint, seed=seed + 10_000)
    held_out = vun(list(data.test), data.train, data.rule)
    report = {
        "dataset": dataset, "rule": data.rule, "train": len(data.train), "test": len(data.test),
        "constraint": constraint.config,
        "free": _row(free, free.graphs, data.train, data.test, data.rule, seed),
        "constrained": _row(constrained, constrained.graphs, data.train, data.test, data.rule, seed),
        "held_out": {"unique": held_out["unique"], "novel": held_out["novel"], "valid": held_out["valid"]},
    }
    if dataset == "community-small":
        for key, graphs in (("free", free.graphs), ("constrained", constrained.graphs), ("held_out", data.test)):
            report[key]["mean_cut"] = float(np.mean([bisection_cut(g, seed=seed) for g in graphs]))
    return report


def blockwise_report(layers: arkit.Pipeline, node_by_node_tokens: float, *, samples: int = 500, seed: int = 0,
                     batch_size: int = 100) -> dict[str, Any]:
    """Trees from a ``graphs/bfs-layers`` pipeline, one BFS layer per call, with calls per graph.

    Size prompts are drawn from the training trees' sizes. Calls per graph at batch 1 are
    the number of blocks (block 0 comes from the prefill); node by node they are the
    tokens generated (one call each, ``eos`` included).
    """
    from .bfs_layers import LayerSchedule

    data = load_dataset("trees", seed=seed)
    tok = layers.tokenizer
    rng = random.Random(seed)
    sizes = [rng.choice(data.train).n for _ in range(samples)]
    schedule = LayerSchedule(tok)
    bos = tok.special_tokens["bos"]
    graphs, blocks_per_graph, flat_tokens, reasons = [], [], [], {}
    start, calls = time.perf_counter(), 0
    for b in range(0, samples, batch_size):
        chunk = sizes[b:b + batch_size]
        out = arkit.generate_blocks(layers, schedule, prompt_ids=[[bos, tok.size_id(n)] for n in chunk],
                                    seed=seed + b, max_blocks=tok.max_nodes + 1)
        calls += out.calls
        for row, reason in zip(out.blocks, out.finish_reasons):
            ids = [t for block in row for t in block]
            graphs.append(tok.decode(ids))
            blocks_per_graph.append(len(row))
            flat_tokens.append(len(ids) + 1)
            reasons[reason] = reasons.get(reason, 0) + 1
    elapsed = time.perf_counter() - start
    result: dict[str, Any] = vun(graphs, data.train, data.rule)
    result["mmd"] = mmd_table(graphs, data.test, data.train, seed=seed)
    result.update({f"mean_{k}": v for k, v in summary(graphs).items()})
    result["calls_per_graph"] = float(np.mean(blocks_per_graph))
    result["node_by_node_calls_per_graph"] = node_by_node_tokens
    result["same_tokenizer_token_by_token_calls"] = float(np.mean(flat_tokens))
    result["call_reduction"] = node_by_node_tokens / result["calls_per_graph"]
    result["batched_calls"] = calls
    result["elapsed_s"] = elapsed
    result["finish_reasons"] = reasons
    return result


def atlas_report(pipe: arkit.Pipeline, *, n: int = 5, samples: int = 2000, seed: int = 0,
                 biased_temperature: float = 0.7, draft_tokens: int = 4) -> dict[str, Any]:
    """The exact-distribution test on the connected ``n``-node atlas graphs: plain, speculative, biased."""
    from .exact import chi_square_test, exact_graph_probabilities, total_variation

    classes = atlas_graphs(n)
    make = (lambda: BfsConstraint.for_tokenizer(pipe.tokenizer, min_nodes=n, max_nodes=n))  # noqa: E731
    probs = exact_graph_probabilities(pipe, classes, make())
    target = np.full(len(classes), 1.0 / len(classes))
    runs: dict[str, Any] = {}
    variants: dict[str, tuple[arkit.Pipeline, dict[str, Any]]] = {
        "plain": (pipe, {}),
        "speculative": (pipe.replace(drafter=arkit.create("drafter", "core/prompt-lookup")),
                        {"num_draft_tokens": draft_tokens, "draft_schedule": "constant"}),
        "biased": (pipe.replace(sampler=arkit.create("sampler", "core/multinomial",
                                                     temperature=biased_temperature)), {}),
    }
    for offset, (name, (variant, options)) in enumerate(variants.items()):
        result = chi_square_test(variant, classes, probs, make(), samples=samples, seed=seed + 7919 * offset,
                                 **options)
        runs[name] = result.as_dict()
    return {"classes": len(classes), "nodes": n, "samples": samples, "model_probabilities": probs.tolist(),
            "model_tv_to_uniform": total_variation(probs, target), "biased_temperature": biased_temperature,
            "runs": runs}


def _target(name: str, value: float, target: str, met: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "target": target, "met": bool(met)}


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets as ``{"name", "value", "target", "met"}`` entries."""
    out = []
    trees = report.get("trees")
    if trees:
        free, con, held = trees["free"], trees["constrained"], trees["held_out"]
        out.append(_target("trees: valid, unconstrained", free["valid"], ">= 0.95", free["valid"] >= 0.95))
        out.append(_target("trees: valid, constrained", con["valid"], "== 1.0", con["valid"] == 1.0))
        # clustering is 0 for every tree (its floor is exactly 0): its target is measured on community-small
        m = free["mmd"]["degree"]
        out.append(_target("trees: degree MMD² vs 1.5x train-test floor", m["mmd2"],
                           f"<= {1.5 * m['floor']:.6f}", m["mmd2"] <= 1.5 * m["floor"]))
        out.append(_target("trees: degree MMD² vs Erdős–Rényi / 10", m["mmd2"], f"<= {m['er'] / 10:.6f}",
                           m["mmd2"] <= m["er"] / 10))
        for key in ("unique", "novel"):
            out.append(_target(f"trees: {key} within 5 points of held-out ({held[key]:.3f})", free[key],
                               f"{held[key] - 0.05:.3f} .. {held[key] + 0.05:.3f}", abs(free[key] - held[key]) <= 0.05))
    community = report.get("community-small")
    if community:
        for stat in ("degree", "clustering"):
            m = community["free"]["mmd"][stat]
            out.append(_target(f"community-small: {stat} MMD² vs 1.5x train-test floor", m["mmd2"],
                               f"<= {1.5 * m['floor']:.6f}", m["mmd2"] <= 1.5 * m["floor"]))
            out.append(_target(f"community-small: {stat} MMD² vs Erdős–Rényi / 10", m["mmd2"],
                               f"<= {m['er'] / 10:.6f}", m["mmd2"] <= m["er"] / 10))
    atlas = report.get("atlas")
    if atlas:
        for name in ("plain", "speculative"):
            p = atlas["runs"][name]["p_value"]
            out.append(_target(f"atlas: chi-square p-value, {name} sampling", p, "> 0.01", p > 0.01))
        p = atlas["runs"]["biased"]["p_value"]
        out.append(_target(f"atlas: biased sampler (temperature {atlas['biased_temperature']}) rejected", p,
                           "< 0.01", p < 0.01))
    blocks = report.get("blockwise")
    if blocks:
        out.append(_target("block-wise: model calls per graph (factor vs node-by-node: "
                           f"{blocks['call_reduction']:.2f}x)", blocks["calls_per_graph"],
                           f"< {blocks['node_by_node_calls_per_graph']:.2f}",
                           blocks["calls_per_graph"] < blocks["node_by_node_calls_per_graph"]))
    return out


def evaluate(
    *, trees: arkit.Pipeline | None, community: arkit.Pipeline | None, atlas: arkit.Pipeline | None,
    layers: arkit.Pipeline | None, samples: int = 500, atlas_samples: int = 2000, seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every part whose pipeline is given; returns the report with its ``targets``."""
    say = progress or (lambda message: None)
    report: dict[str, Any] = {"samples": samples, "seed": seed}
    start = time.perf_counter()
    if trees is not None:
        say("sampling trees (free and constrained)")
        report["trees"] = dataset_report(trees, "trees", samples=samples, seed=seed, rules={"tree": True})
    if layers is not None:
        say("sampling trees block-wise (one BFS layer per call)")
        nbn = report["trees"]["free"]["tokens_per_graph"] if "trees" in report else float("nan")
        report["blockwise"] = blockwise_report(layers, nbn, samples=samples, seed=seed)
    if community is not None:
        say("sampling community-small (free and constrained)")
        report["community-small"] = dataset_report(community, "community-small", samples=min(samples, 200),
                                                   seed=seed, rules={"connected": True})
    if atlas is not None:
        say("atlas exact-distribution test (plain, speculative, biased)")
        report["atlas"] = atlas_report(atlas, samples=atlas_samples, seed=seed)
    report["targets"] = targets(report)
    report["elapsed_s"] = time.perf_counter() - start
    return report
