"""``arkit bench decode``: a smoke test of the decode benchmark on tiny dimensions."""

from __future__ import annotations

import pytest

pytest.importorskip("arkit_hf", reason="the decode benchmark compares with transformers through arkit-hf")

TINY = {"vocab_size": 64, "d_model": 32, "n_layers": 2, "n_heads": 2, "ffn_hidden": 64}


def test_bench_decode_reports_every_variant_the_ceiling_and_the_cache_figures() -> None:
    import torch

    from arkit._bench.decode import run

    torch.set_num_threads(1)
    report = run(sizes=("small",), batches=(1, 2), prompt_tokens=6, new_tokens=5, repeats=1, _dims_override=TINY)
    assert report["benchmark"] == "decode"
    variants = {"arkit-dynamic", "arkit-static", "transformers", "reference-loop"}
    assert {(r["batch"], r["variant"]) for r in report["results"]} == {(b, v) for b in (1, 2) for v in variants}
    for r in report["results"]:
        assert r["tokens_per_s"] > 0 and r["ms_per_step"] > 0 and len(r["samples_s"]) == 1
        assert r["cpu_ms_per_step"] > 0  # thread CPU time, next to the wall time
        if r["variant"] == "transformers":  # the baseline; the others' ratios are timings, whatever they are
            assert r["ratio_to_transformers"] == 1.0
    small_b1 = next(t for t in report["targets"] if t["name"].startswith("small batch 1: arkit"))
    assert small_b1["ceiling"] > 0 and small_b1["met"] == (small_b1["value"] >= 2.0)
    assert report["floor"]["small"]["reference_loop_over_floor"] > 0
    over = report["arkit_over_reference_loop"]
    assert [(o["size"], o["batch"]) for o in over] == [("small", 1), ("small", 2)]
    assert all(o["ratio"] > 0 and o["cpu_ratio"] > 0 for o in over)
    # the speed target, printed with the run: arkit against the bare loop, by wall and by CPU time
    loop_b1 = next(t for t in report["targets"] if t["name"] == "small batch 1: arkit / reference-loop tokens/s")
    assert loop_b1["target"] == 0.95 and loop_b1["met"] == (loop_b1["value"] >= 0.95)
    assert (loop_b1["value"], loop_b1["cpu_value"]) == (over[0]["ratio"], over[0]["cpu_ratio"])
    assert report["cache_bytes_allocated_per_decode_step"]["core/static"] == 0
    assert report["cache_bytes_allocated_per_decode_step"]["core/dynamic"] > 0
    assert 0 < report["overhead"]["small_batch1_share_outside_forward"] < 1


def test_the_reference_loop_matches_the_pipeline_with_grouped_query_attention() -> None:
    import torch

    from arkit._bench import _reference
    from arkit._bench._common import build_pipeline

    torch.set_num_threads(1)
    pipe = build_pipeline({**TINY, "n_heads": 4, "n_kv_heads": 2}, 0)
    prompts = torch.randint(1, TINY["vocab_size"], (3, 7), generator=torch.Generator().manual_seed(1))
    expected = pipe.generate(prompt_ids=prompts.tolist(), max_new_tokens=9, eos_token_ids=()).sequences
    assert _reference.greedy(pipe.backbone, pipe.head, prompts, 9).tolist() == [list(s) for s in expected]
