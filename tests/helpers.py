"""Small builders shared by the core tests."""

from __future__ import annotations

from typing import Any

import torch

import arkit


def tiny_pipeline(sampler: str = "core/greedy", **sampler_config: Any) -> arkit.Pipeline:
    """A 2-layer, 64-wide byte-level pipeline: random weights (seeded), instant to build."""
    torch.manual_seed(0)
    return arkit.Pipeline.from_preset(
        "core/tiny-byte",
        backbone={"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "max_seq_len": 128},
        head={"d_model": 64},
        sampler=arkit.create("sampler", sampler, **sampler_config),
    )
