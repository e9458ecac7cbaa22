"""Presets that ship weights: ``register(..., weights=folder)`` and ``Pipeline.from_preset(name, pretrained=...)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import arkit
from tests.helpers import tiny_pipeline

DIMS = {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 2, "max_seq_len": 128}


class _Shipping:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @arkit.hookimpl
    def arkit_register_pipeline_presets(self, register: Any) -> None:
        register("shipping/tiny", {"tokenizer": ("core/byte", {}), "backbone": ("core/transformer", {"vocab_size": 259, **DIMS}),
                                   "head": ("core/categorical", {"d_model": 64, "vocab_size": 259}),
                                   "sampler": ("core/greedy", {})},
                 description="a tiny byte model with weights", weights=self.folder)


def test_a_preset_with_weights_loads_them_and_can_start_fresh(tmp_path: Path, arkit_register_plugin: Any) -> None:
    shipped = tiny_pipeline()  # seeded random weights stand in for trained ones
    shipped.save_pretrained(tmp_path / "tiny")
    arkit_register_plugin(_Shipping(tmp_path / "tiny"), "shipping")
    assert arkit.get_preset("shipping/tiny").weights == str((tmp_path / "tiny").resolve())

    pipe = arkit.Pipeline.from_preset("shipping/tiny")
    prompt = [[256, 72, 105]]
    assert pipe.generate(prompt_ids=prompt, max_new_tokens=8).sequences == \
        shipped.generate(prompt_ids=prompt, max_new_tokens=8).sequences
    for name, tensor in shipped.backbone.state_dict().items():
        assert torch.equal(pipe.backbone.state_dict()[name], tensor), name

    # an override that keeps the shapes keeps the weights; one that changes them is refused
    longer = arkit.Pipeline.from_preset("shipping/tiny", backbone={"max_seq_len": 256})
    for name, tensor in shipped.backbone.state_dict().items():
        assert torch.equal(longer.backbone.state_dict()[name], tensor), name
    with pytest.raises(arkit.ConfigError, match="pretrained=False"):
        arkit.Pipeline.from_preset("shipping/tiny", backbone={"n_layers": 3})
    fresh = arkit.Pipeline.from_preset("shipping/tiny", pretrained=False, backbone={"n_layers": 3})
    assert fresh.backbone.config["n_layers"] == 3


def test_a_preset_whose_weights_folder_is_missing_fails_its_plugin(tmp_path: Path, arkit_register_plugin: Any) -> None:
    with pytest.raises(arkit.PluginLoadError, match="no pipeline.json"):
        arkit_register_plugin(_Shipping(tmp_path / "nowhere"), "shipping")
