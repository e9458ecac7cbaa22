"""Checkpoints: atomic, the newest K kept, exact resume, refusal of another architecture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import arkit
from arkit.training import checkpoint as ckpt
from arkit.training import fit as fit_module
from tests.helpers import tiny_pipeline

torch.set_num_threads(1)

CORPUS = ["the cat sat on the mat. " * 4, "the dog sat on the log. " * 4, "a cat and a dog. " * 4] * 4


def _config(out: Path, **changes: object) -> arkit.TrainConfig:
    base = dict(steps=12, batch_size=4, seq_len=32, warmup_steps=3, out_dir=out, checkpoint_every=4,
                keep_checkpoints=2, progress=False, seed=5)
    return arkit.TrainConfig(**{**base, **changes})  # type: ignore[arg-type]


class _Crash(Exception):
    pass


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reference = tiny_pipeline()
    uninterrupted = reference.fit(CORPUS, _config(tmp_path / "a"))
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "a" / "checkpoints")] == [
        "checkpoint-00000008", "checkpoint-00000012"]  # the newest two

    real_save = ckpt.save

    def crash_after_step_8(*args: object, **kwargs: object) -> Path:
        path = real_save(*args, **kwargs)  # type: ignore[arg-type]
        if kwargs["step"] == 8:
            raise _Crash
        return path

    monkeypatch.setattr(fit_module.ckpt, "save", crash_after_step_8)
    with pytest.raises(_Crash):
        tiny_pipeline().fit(CORPUS, _config(tmp_path / "b"))
    monkeypatch.setattr(fit_module.ckpt, "save", real_save)

    torch.manual_seed(123)  # a differently initialised pipeline: the checkpoint overwrites everything
    fresh = arkit.Pipeline.from_preset("core/tiny-byte", backbone={"d_model": 64, "n_layers": 2, "n_heads": 4,
                                       "n_kv_heads": 2, "max_seq_len": 128}, head={"d_model": 64})
    resumed = fresh.fit(CORPUS, _config(tmp_path / "b", resume_from="latest"))
    assert resumed.resumed_from == 8
    assert resumed.losses == uninterrupted.losses  # bit for bit, steps 1-8 from the checkpoint, 9-12 recomputed
    assert resumed.tokens == uninterrupted.tokens
    for a, b in zip(reference.backbone.state_dict().values(), fresh.backbone.state_dict().values()):
        assert torch.equal(a, b)
    metrics = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert len(metrics) == 12  # lines after the checkpoint from the crashed run are not repeated


def test_resume_latest_without_checkpoints_starts_afresh(tmp_path: Path) -> None:
    result = tiny_pipeline().fit(CORPUS, _config(tmp_path, steps=2, checkpoint_every=None, resume_from="latest"))
    assert result.resumed_from == 0 and len(result.losses) == 2


def test_a_checkpoint_of_another_architecture_is_refused(tmp_path: Path) -> None:
    tiny_pipeline().fit(CORPUS, _config(tmp_path, steps=4))
    torch.manual_seed(0)
    other = arkit.Pipeline.from_preset("core/tiny-byte", backbone={"d_model": 64, "n_layers": 3, "n_heads": 4,
                                       "max_seq_len": 128}, head={"d_model": 64})
    with pytest.raises(arkit.CheckpointError, match="different architecture.*n_layers = 2 in the checkpoint, 3 here"):
        other.fit(CORPUS, _config(tmp_path, steps=8, resume_from="latest"))
    with pytest.raises(arkit.CheckpointError, match="no such checkpoint"):
        tiny_pipeline().fit(CORPUS, _config(tmp_path, resume_from=str(tmp_path / "nope")))
    with pytest.raises(arkit.CheckpointError, match="not an arkit training checkpoint"):
        tiny_pipeline().fit(CORPUS, _config(tmp_path, resume_from=str(tmp_path)))


def test_a_checkpoint_from_before_an_option_existed_resumes_when_the_option_is_at_its_default(tmp_path: Path) -> None:
    """A checkpoint's recorded config without a key (written before ``dropout`` existed) has that option's default."""
    import json

    tiny_pipeline().fit(CORPUS, _config(tmp_path, steps=4))
    for trainer in (tmp_path / "checkpoints").glob("*/trainer.json"):
        record = json.loads(trainer.read_text())
        del record["architecture"]["backbone"]["config"]["dropout"]
        trainer.write_text(json.dumps(record))
    assert tiny_pipeline().fit(CORPUS, _config(tmp_path, steps=8, resume_from="latest")).resumed_from == 4
    torch.manual_seed(0)
    dropping = arkit.Pipeline.from_preset("core/tiny-byte", backbone={"d_model": 64, "n_layers": 2, "n_heads": 4,
                                          "n_kv_heads": 2, "max_seq_len": 128, "dropout": 0.1}, head={"d_model": 64})
    old = tmp_path / "checkpoints" / "checkpoint-00000004"  # still without the key
    with pytest.raises(arkit.CheckpointError, match="dropout = None in the checkpoint, 0.1 here"):
        dropping.fit(CORPUS, _config(tmp_path, steps=8, resume_from=str(old)))


def test_a_failed_save_leaves_no_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = ckpt.safetensors.torch.save_file
    calls = []

    def fail_on_the_optimizer(tensors: dict, path: str, metadata: object = None) -> None:
        calls.append(path)
        if path.endswith("optimizer.safetensors"):
            raise OSError("disk full")
        real(tensors, path, metadata=metadata)

    monkeypatch.setattr(ckpt.safetensors.torch, "save_file", fail_on_the_optimizer)
    with pytest.raises(OSError, match="disk full"):
        tiny_pipeline().fit(CORPUS, _config(tmp_path, steps=4))
    assert calls and list((tmp_path / "checkpoints").iterdir()) == []  # neither a checkpoint nor a temp folder


def test_load_checkpoint_takes_a_run_folder_or_one_checkpoint(tmp_path: Path) -> None:
    """``Pipeline.load_checkpoint``: the newest checkpoint of a run folder, or the one named; its weights
    replace the pipeline's and its step comes back. Wrong folders and architectures get clear errors."""
    trained = tiny_pipeline()
    trained.fit(CORPUS, _config(tmp_path / "run", steps=8))
    fresh = tiny_pipeline()
    fresh.backbone.embed.weight.data.zero_()
    assert fresh.load_checkpoint(tmp_path / "run") == 8
    for a, b in zip(trained.backbone.state_dict().values(), fresh.backbone.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(trained.head.state_dict().values(), fresh.head.state_dict().values()):
        assert torch.equal(a, b)
    assert tiny_pipeline().load_checkpoint(tmp_path / "run" / "checkpoints" / "checkpoint-00000004") == 4
    with pytest.raises(arkit.CheckpointError, match="holds no training checkpoint"):
        tiny_pipeline().load_checkpoint(tmp_path / "empty")
    torch.manual_seed(0)
    other = arkit.Pipeline.from_preset("core/tiny-byte", backbone={"d_model": 64, "n_layers": 3, "n_heads": 4,
                                       "max_seq_len": 128}, head={"d_model": 64})
    with pytest.raises(arkit.CheckpointError, match="n_layers = 2 in the checkpoint, 3 here"):
        other.load_checkpoint(tmp_path / "run")
