"""``arkit vision bench`` end to end on tiny budgets: every method runs, with guidance, and the report adds up."""

from __future__ import annotations

import pytest

import arkit
from arkit_vision.bench import benchmark
from arkit_vision.recipes import ModelSize

TINY = ModelSize(d_model=16, n_layers=1, n_heads=2, steps=4, batch_size=8)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["shapes", "digits"])
def test_the_bench_runs_every_method_with_guidance(dataset: str) -> None:
    report = benchmark(dataset=dataset, images=3, num_draft_tokens=3, neighbours=4, codebook_size=16, size=TINY,
                       draft_steps=4, tokenizer_steps=(4, 4))
    methods = report["methods"]
    assert set(methods) == {"plain", "exact", "lantern", "lantern_sampled_draft", "lantern_ratio", "sjd"}
    assert methods["plain"]["target_calls_per_image"] == 64  # one call per token, the prefill included
    for name in ("exact", "lantern", "lantern_sampled_draft", "lantern_ratio", "sjd"):
        assert 64 / 4 <= methods[name]["target_calls_per_image"] <= 65  # at most k + 1 tokens per call
        assert 0.0 <= methods[name]["acceptance_rate"] <= 1.0
    assert report["guidance_scale"] == 1.5
    for name in ("lantern", "lantern_sampled_draft", "lantern_ratio"):
        row = report[f"{name}_vs_exact"]
        assert "accuracy_change" in row and row["tv_bound_per_position"] == (None if name == "lantern_ratio" else 0.4)
        assert row["target_call_reduction"] == pytest.approx(
            methods["exact"]["target_calls_per_image"] / methods[name]["target_calls_per_image"], rel=1e-2)
    assert [t["name"].split(":")[0] for t in report["targets"]] == ["lantern (TV bound)"] * 2


def test_bad_bench_options_are_refused() -> None:
    with pytest.raises(arkit.ConfigError, match="dataset"):
        benchmark(dataset="cifar", images=1)
    with pytest.raises(arkit.ConfigError, match=">= 1"):
        benchmark(images=0)
