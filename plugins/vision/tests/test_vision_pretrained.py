"""The shipped checkpoints: their files, what they score on a subset, and the eval built on them (nothing retrains)."""

from __future__ import annotations

import json

import attrs
from hypothesis import given, settings, strategies as st
import numpy as np
import pytest
import safetensors
import torch

import arkit
from arkit_vision.datasets import load_shapes
from arkit_vision.evaluation import DECODING, _stats, evaluate
from arkit_vision.features import CNNJudge, load_cnn_judge
from arkit_vision.generate import image_bits, sample_next_scale, sample_raster
from arkit_vision.metrics import independent_pixel_bits
from arkit_vision.pretrained import JUDGES, MODELS, checkpoint_path, load_judge, load_model


@pytest.fixture(scope="module")
def shapes():
    return load_shapes(seed=0)


@pytest.mark.parametrize("name", [*MODELS, *(f"judge-{j}" for j in JUDGES)])
def test_every_checkpoint_is_small_float16_with_its_recipe_and_log(name):
    folder = checkpoint_path(name)
    files = list(folder.rglob("*.safetensors"))
    assert files and sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) <= 10 * 2**20
    for file in files:
        with safetensors.safe_open(str(file), "pt") as handle:
            floats = [handle.get_slice(k).get_dtype() for k in handle.keys()]
        assert "F32" not in floats and "F16" in floats, (file, set(floats))
    info = json.loads((folder / "training.json").read_text())
    assert {"seed", "data", "command"} <= set(info) and ("steps" in info or "steps_run" in info)
    if name in MODELS:
        assert 0 < info["best_step"] <= info["steps_run"] and info["best_valid_loss"] > 0
    log = [json.loads(line) for line in (folder / "training_log.jsonl").read_text().splitlines()]
    assert log and all("step" in row for row in log)


def test_unknown_or_missing_checkpoints_are_refused(tmp_path, monkeypatch):
    with pytest.raises(arkit.ConfigError, match="known"):
        checkpoint_path("cifar-raster")
    with pytest.raises(arkit.ConfigError, match="known"):
        load_judge("cifar")
    monkeypatch.setattr("arkit_vision.pretrained.CHECKPOINTS", tmp_path)
    with pytest.raises(arkit.CheckpointError, match="pretrain.py"):
        checkpoint_path("digits-raster")
    with pytest.raises(arkit.CheckpointError, match="config.json"):
        load_cnn_judge(tmp_path)


def test_shipped_digit_raster_model_beats_independent_pixels(digits):
    pipe = load_model("digits-raster")
    assert image_bits(pipe, digits.test) < independent_pixel_bits(digits.train, digits.test) - 0.3


def test_shipped_models_draw_recognisable_images(digits, shapes):
    """100 samples each: a judge's accuracy has sd <= 0.05, so each bar is the measured 3-seed mean minus 3 sd."""
    cnn_digits, cnn_shapes = load_judge("digits"), load_judge("shapes")
    digits_labels, shape_labels = [i % 10 for i in range(100)], [i % 4 for i in range(100)]
    raster = sample_raster(load_model("digits-raster"), digits_labels, seed=7, **attrs.asdict(DECODING["digits_raster"]))
    assert cnn_digits.accuracy(raster.images) >= 0.80  # measured 0.94
    scales = load_model("shapes-next-scale")
    out = sample_next_scale(scales, shape_labels, scales.tokenizer.schedule, seed=7,
                            **attrs.asdict(DECODING["shapes_next_scale"]))
    assert out.model_calls == 4 and cnn_shapes.accuracy(out.images) >= 0.60  # measured 0.75 on the valid shapes


def test_cnn_judges_classify_real_test_images_and_round_trip(digits, shapes, tmp_path):
    for name, data, bar in (("digits", digits, 0.93), ("shapes", shapes, 0.97)):
        judge = load_judge(name)
        assert judge.accuracy(data.test) >= bar
        features = judge.features(data.test[:10])
        assert features.shape == (10, judge.feature_dim) and np.all(features >= 0)
        again = load_cnn_judge(judge.save(tmp_path / name))
        assert np.array_equal(again.predict(data.test[:50]), judge.predict(data.test[:50]))
    with pytest.raises(arkit.InputError, match="8 x 8"):
        load_judge("digits").features(shapes.test[:2])
    with pytest.raises(arkit.ConfigError, match="width"):
        CNNJudge(image_size=8, channels=1, max_value=16, num_classes=10, width=0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=6))
def test_seed_statistics_bracket_the_values(values):
    stats = _stats(values, digits=6)
    assert min(values) - 1e-5 <= stats["mean"] <= max(values) + 1e-5
    assert stats["std"] >= 0 and len(stats["per_seed"]) == len(values)
    if len(set(values)) == 1:
        assert stats["std"] == 0


def test_eval_on_a_subset_lists_a_target_for_every_model():
    torch.manual_seed(0)
    report = evaluate(sections=("digits", "lantern"), seeds=(0, 1), samples=30, lantern_images=4,
                      models=("digits_next_scale",))
    assert set(report) >= {"digits", "lantern", "targets"} and "shapes" not in report
    names = [t["name"] for t in report["targets"]]
    for model in ("digits_next_scale", "lantern"):
        assert any(n.startswith(model) for n in names), model
    assert all(set(t) == {"name", "value", "target", "met"} and isinstance(t["met"], bool) for t in report["targets"])
    row = report["digits"]["digits_next_scale"]
    assert row["model_calls_per_image"] == 4 and len(row["mlp_fd_over_floor"]["per_seed"]) == 2
    assert report["digits"]["real"]["mlp_frechet_floor"] > 0 and report["digits"]["real"]["cnn_frechet_floor"] > 0
    lantern = report["lantern"]
    assert lantern["methods"][lantern["default"]]["tv_bound_per_position"] == lantern["delta"]
    assert lantern["methods"]["lantern_ratio_test"]["tv_bound_per_position"] is None
    for name, method in lantern["methods"].items():
        assert method["target_calls_per_image"]["mean"] <= 65  # at most one call per token, plus the prefill
        if name != "plain":
            assert 0 <= method["acceptance_rate"] <= 1 and "call_reduction_vs_best_exact" in method


def test_eval_refuses_bad_options():
    with pytest.raises(arkit.ConfigError, match="sections"):
        evaluate(sections=("cats",))
    with pytest.raises(arkit.ConfigError, match="models"):
        evaluate(models=("digits_vae",))
    with pytest.raises(arkit.ConfigError, match="seed"):
        evaluate(seeds=())
    with pytest.raises(arkit.ConfigError, match="samples"):
        evaluate(samples=1)


def test_eval_command_prints_json_with_targets(capsys):
    from arkit.cli import main

    args = ["vision", "eval", "--json", "--sections", "shapes", "--models", "shapes_next_scale", "--seeds", "1",
            "--shapes-samples", "8"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert list(report["shapes"]) == ["data", "real", "shapes_next_scale"]
    assert any(t["name"].startswith("shapes_next_scale") for t in report["targets"])
    assert main(["vision", "eval", "--sections", "digits,cats"]) == 1
    assert "--sections" in capsys.readouterr().err
    assert main(["vision", "eval", "--models", "digits_vae"]) == 1
    assert "--models" in capsys.readouterr().err


def test_from_scratch_trains_every_model_per_seed(monkeypatch):
    """``--from-scratch`` wiring, on tiny budgets: each model and judge is trained, nothing shipped is loaded."""
    import arkit_vision.features as features
    import arkit_vision.pretrained as pretrained
    import arkit_vision.recipes as recipes
    from arkit_vision.recipes import ModelSize

    tiny = ModelSize(d_model=16, n_layers=1, n_heads=2, steps=2, batch_size=8)
    monkeypatch.setattr(recipes, "SHIPPED_SIZES", {name: tiny for name in recipes.SHIPPED_SIZES})
    real_tokenizer, real_judge, real_next_scale = recipes.shapes_tokenizer, features.train_cnn_judge, \
        recipes.train_next_scale
    monkeypatch.setattr(recipes, "train_next_scale",
                        lambda data, size, **kw: real_next_scale(data, size, **{**kw, "tokenizer_steps": 2}))
    monkeypatch.setattr(recipes, "shapes_tokenizer",
                        lambda data, **kw: real_tokenizer(data, **{**kw, "warmup_steps": 1, "steps": 1}))
    monkeypatch.setattr(features, "train_cnn_judge", lambda images, **kw: real_judge(images, **{**kw, "steps": 2}))
    monkeypatch.setattr(pretrained, "load_model", lambda name: pytest.fail(f"loaded the shipped {name}"))
    report = evaluate(seeds=(0,), samples=10, shapes_samples=8, lantern_images=2, from_scratch=True)
    assert report["from_scratch"] and report["lantern"]["target"] == "shapes-raster trained per seed"
    for section, name in (("digits", "digits_raster"), ("digits", "digits_next_scale"), ("shapes", "shapes_raster"),
                          ("shapes", "shapes_next_scale")):
        assert report[section][name]["checkpoint"] == "trained from scratch per seed"


def test_a_tiny_nucleus_is_greedy_and_decoding_is_described():
    """top-p keeps at least the most likely id, so a nucleus of 1e-9 draws what temperature 0 draws."""
    from arkit_vision.evaluation import Decoding
    from arkit_vision.report import tables

    pipe = load_model("digits-raster")
    labels = list(range(10))
    greedy = sample_raster(pipe, labels, temperature=0.0, seed=3).images
    nucleus = sample_raster(pipe, labels, top_p=1e-9, seed=4).images
    assert greedy == nucleus
    scales = load_model("shapes-next-scale")
    a, b = (sample_next_scale(scales, [0, 1], scales.tokenizer.schedule, seed=s, **kw).images
            for s, kw in ((1, {"temperature": 0.0}), (2, {"top_p": 1e-9})))
    assert a == b
    assert Decoding(guidance_scale=2.0, temperature=0.8, top_p=0.9).describe() == \
        "guidance 2, temperature 0.8, top-p 0.9"
    assert Decoding(guidance_scale=1.25).describe() == "guidance 1.25"
    with pytest.raises(arkit.ConfigError, match="top_p"):
        sample_raster(pipe, [0], top_p=0.0)
    # reports written before top-k / top-p render as before
    row = {"decoding": {"guidance_scale": 1.5, "temperature": 1.0}, "model_calls_per_image": 64.0,
           **{k: {"mean": 0.5, "std": 0.0, "per_seed": [0.5]} for k in
              ("mlp_accuracy", "cnn_accuracy", "mlp_fd_over_floor", "cnn_fd_over_floor", "near_copy_rate")}}
    real = {"mlp_test_accuracy": 1.0, "cnn_test_accuracy": 1.0, "mlp_frechet_floor": 1.0, "cnn_frechet_floor": 1.0,
            "test_near_copy_rate": 0.0}
    report = {"shapes": {"data": {"samples_per_seed": 2, "test": 2}, "real": real, "shapes_raster": row},
              "targets": []}
    assert "| shapes_raster | guidance 1.5 | 64 |" in tables(report)["shapes"]
