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


class _Extending:
    """A third-party plugin shipping Medusa heads for another plugin's preset (only the drafter's weights)."""

    def __init__(self, folder: Path, base: str = "shipping/tiny") -> None:
        self.folder, self.base = folder, base

    @arkit.hookimpl
    def arkit_register_pipeline_presets(self, register: Any) -> None:
        register("heads/tiny-medusa", {"drafter": ("core/medusa", {"d_model": 64, "vocab_size": 259, "num_heads": 3})},
                 description="medusa heads for shipping/tiny", weights=self.folder, base=self.base)
        register("heads/loop-a", {}, base="heads/loop-b")
        register("heads/loop-b", {}, base="heads/loop-a")


def test_a_preset_extends_another_and_ships_only_what_it_adds(tmp_path: Path, arkit_register_plugin: Any) -> None:
    shipped = tiny_pipeline()
    shipped.save_pretrained(tmp_path / "tiny")
    torch.manual_seed(3)
    heads = arkit.create("drafter", "core/medusa", d_model=64, vocab_size=259, num_heads=3)
    for tensor in heads.parameters():  # stand-ins for trained weights (a fresh head's block starts at zero)
        torch.nn.init.normal_(tensor, std=0.02)
    shipped.replace(drafter=heads).save_pretrained(tmp_path / "heads", roles="drafter")  # the heads alone
    arkit_register_plugin(_Shipping(tmp_path / "tiny"), "shipping")
    arkit_register_plugin(_Extending(tmp_path / "heads"), "heads")
    assert arkit.get_preset("heads/tiny-medusa").base == "shipping/tiny"

    pipe = arkit.Pipeline.from_preset("heads/tiny-medusa")
    assert {"tokenizer", "backbone", "head", "sampler", "drafter"} <= set(pipe.components)
    for part, trained in (("backbone", shipped.backbone), ("drafter", heads)):  # both folders' weights
        for name, tensor in trained.state_dict().items():
            assert torch.equal(getattr(pipe, part).state_dict()[name], tensor), (part, name)
    prompt = [[256, 72, 105]]  # greedy and lossless: the heads change the speed, not the tokens
    assert pipe.generate(prompt_ids=prompt, max_new_tokens=8).sequences == \
        shipped.generate(prompt_ids=prompt, max_new_tokens=8).sequences
    # overrides reach the base's roles too; pretrained=False starts every module fresh
    longer = arkit.Pipeline.from_preset("heads/tiny-medusa", backbone={"max_seq_len": 256})
    assert longer.backbone.config["max_seq_len"] == 256
    assert torch.equal(longer.backbone.state_dict()["embed.weight"], shipped.backbone.state_dict()["embed.weight"])
    fresh = arkit.Pipeline.from_preset("heads/tiny-medusa", pretrained=False)
    assert not torch.equal(fresh.drafter.state_dict()["heads.0.block.weight"], heads.state_dict()["heads.0.block.weight"])
    with pytest.raises(arkit.ConfigError, match="extends itself"):
        arkit.Pipeline.from_preset("heads/loop-a")
    with pytest.raises(arkit.PipelineFormatError, match="missing components"):
        arkit.Pipeline.from_pretrained(tmp_path / "heads")  # a partial folder is not a pipeline
    with pytest.raises(arkit.ConfigError, match="roles must name components"):
        shipped.save_pretrained(tmp_path / "none", roles=["drafter"])
    assert not (tmp_path / "none").exists()


def test_a_preset_whose_base_is_not_installed_says_which(tmp_path: Path, arkit_register_plugin: Any) -> None:
    heads = arkit.create("drafter", "core/medusa", d_model=64, vocab_size=259, num_heads=3)
    tiny_pipeline().replace(drafter=heads).save_pretrained(tmp_path / "heads", roles=["drafter"])
    arkit_register_plugin(_Extending(tmp_path / "heads", base="elsewhere/model"), "heads")
    with pytest.raises(arkit.ConfigError, match="extends 'elsewhere/model'.*install the plugin"):
        arkit.Pipeline.from_preset("heads/tiny-medusa")
