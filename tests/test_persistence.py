"""Saving and loading pipelines: the on-disk format, atomic saves, and loud failures."""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
import textwrap

import pytest
import torch

import arkit
from arkit import _serialization
from tests.helpers import tiny_pipeline


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    return tiny_pipeline("core/multinomial", temperature=1.0, top_k=50).save_pretrained(tmp_path / "pipe")


def test_layout_and_manifest(saved: Path) -> None:
    manifest = json.loads((saved / "pipeline.json").read_text())
    assert manifest["format_version"] == 1 and manifest["arkit_version"] == arkit.__version__
    assert set(manifest["components"]) == {"tokenizer", "backbone", "head", "sampler", "cache"}
    backbone = manifest["components"]["backbone"]
    assert backbone["name"] == "core/transformer" and backbone["distribution"] == "arkit"
    assert backbone["config"]["d_model"] == 64 and backbone["weights"] == "model.safetensors"
    assert (saved / "backbone" / "model.safetensors").is_file()
    assert json.loads((saved / "sampler" / "config.json").read_text()) == {
        "name": "core/multinomial", "config": {"temperature": 1.0, "top_k": 50, "top_p": 1.0}
    }
    assert manifest["components"]["tokenizer"]["weights"] is None  # nothing to store: no empty files
    assert not list(saved.parent.glob(".pipe.*"))  # no temporary folders left behind


def test_reload_in_a_fresh_process_generates_the_same_tokens(saved: Path) -> None:
    pipe = arkit.Pipeline.from_pretrained(saved)
    expected = pipe.generate(["Hello", "arkit"], max_new_tokens=12, seed=7).sequences
    code = textwrap.dedent(
        f"""
        import json, torch, arkit
        torch.set_num_threads(1)
        pipe = arkit.Pipeline.from_pretrained({str(saved)!r})
        print(json.dumps(pipe.generate(["Hello", "arkit"], max_new_tokens=12, seed=7).sequences))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert [tuple(s) for s in json.loads(result.stdout)] == list(expected)


def test_weights_round_trip_exactly(saved: Path) -> None:
    original = tiny_pipeline()
    path = original.save_pretrained(saved.parent / "again")
    loaded = arkit.Pipeline.from_pretrained(path)
    for key, value in original.backbone.state_dict().items():
        assert torch.equal(value, loaded.backbone.state_dict()[key]), key


def test_saving_over_a_pipeline_replaces_it(saved: Path) -> None:
    other = tiny_pipeline()
    other.save_pretrained(saved)
    loaded = arkit.Pipeline.from_pretrained(saved)
    assert loaded.sampler.deterministic
    assert torch.equal(loaded.head.proj.weight, other.head.proj.weight)


def test_refuses_to_overwrite_a_folder_that_is_not_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(arkit.PipelineFormatError, match="not empty"):
        tiny_pipeline().save_pretrained(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "precious"


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(_serialization.safetensors.torch, "save_model", boom)
    with pytest.raises(OSError, match="disk full"):
        tiny_pipeline().save_pretrained(tmp_path / "pipe")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_previous_version(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (saved / "pipeline.json").read_text()
    monkeypatch.setattr(_serialization.safetensors.torch, "save_model", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        tiny_pipeline().save_pretrained(saved)
    assert (saved / "pipeline.json").read_text() == before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["pipe"]


def test_unserialisable_config_is_refused_before_writing(tmp_path: Path) -> None:
    pipe = tiny_pipeline()
    pipe.sampler.__class__ = type("OddSampler", (type(pipe.sampler),), {"config": property(lambda self: {"x": object()})})
    with pytest.raises(arkit.ConfigError, match="JSON"):
        pipe.save_pretrained(tmp_path / "pipe")
    assert not (tmp_path / "pipe").exists()


def _edit_manifest(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    manifest = json.loads((path / "pipeline.json").read_text())
    edit(manifest)
    (path / "pipeline.json").write_text(json.dumps(manifest))


def test_future_format_asks_for_an_upgrade(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m.update(format_version=99, arkit_version="9.0.0"))
    with pytest.raises(arkit.PipelineFormatError, match="upgrade arkit"):
        arkit.Pipeline.from_pretrained(saved)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "'components' object"),
        ('{"components": {}}', "format_version"),
        ('{"format_version": 1, "components": {"tokenizer": {"name": "core/byte"}}}', "missing components"),
        ('{"format_version": 1, "components": {"tokenizer": {}, "backbone": {}, "head": {}}}', "'name' string"),
    ],
)
def test_malformed_manifests_are_reported(saved: Path, content: str, match: str) -> None:
    (saved / "pipeline.json").write_text(content)
    with pytest.raises(arkit.PipelineFormatError, match=match):
        arkit.Pipeline.from_pretrained(saved)


def test_missing_folder_and_missing_manifest(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(arkit.PipelineFormatError, match="no pipeline.json"):
        arkit.Pipeline.from_pretrained(tmp_path / "empty")


def test_missing_weights_file(saved: Path) -> None:
    (saved / "backbone" / "model.safetensors").unlink()
    with pytest.raises(arkit.WeightsError, match="backbone weights are missing"):
        arkit.Pipeline.from_pretrained(saved)


def test_weights_that_do_not_fit_the_config(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["components"]["backbone"]["config"].update(n_layers=3))
    with pytest.raises(arkit.WeightsError, match="does not fit backbone"):
        arkit.Pipeline.from_pretrained(saved)


def test_corrupt_weights_file(saved: Path) -> None:
    (saved / "head" / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(arkit.WeightsError, match="head"):
        arkit.Pipeline.from_pretrained(saved)


def test_component_from_a_missing_plugin_names_the_distribution(saved: Path) -> None:
    def edit(m: dict) -> None:
        m["components"]["tokenizer"].update(name="proteins3d/residues", distribution="arkit-proteins3d", version="0.3.0")

    _edit_manifest(saved, edit)
    with pytest.raises(arkit.MissingPluginError, match=r"arkit-proteins3d.*not installed.*only if you trust") as info:
        arkit.Pipeline.from_pretrained(saved)
    assert isinstance(info.value, KeyError)


def test_unknown_config_keys_warn_and_are_ignored(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["components"]["sampler"]["config"].update(future_knob=3))
    with pytest.warns(arkit.ArkitConfigWarning, match="future_knob"):
        pipe = arkit.Pipeline.from_pretrained(saved)
    assert "future_knob" not in pipe.sampler.config


def test_hub_repo_ids_go_through_snapshot_download(saved: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_snapshot_download(repo_id: str, *, revision: str | None, token: str | None) -> str:
        calls.append((repo_id, revision))
        return str(saved)

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    pipe = arkit.Pipeline.from_pretrained("someone/tiny-byte", revision="v1")
    assert calls == [("someone/tiny-byte", "v1")] and isinstance(pipe, arkit.Pipeline)


def test_hub_failures_are_arkit_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(*args: object, **kwargs: object) -> str:
        raise ConnectionError("no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(arkit.PipelineFormatError, match="no network"):
        arkit.Pipeline.from_pretrained("someone/missing")


def test_push_to_hub_uploads_a_saved_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    uploaded: dict[str, object] = {}

    class FakeApi:
        def __init__(self, token: str | None = None) -> None:
            uploaded["token"] = token

        def create_repo(self, repo_id: str, **kwargs: object) -> None:
            uploaded["repo"] = repo_id

        def upload_folder(self, *, repo_id: str, folder_path: str, **kwargs: object) -> str:
            uploaded["files"] = sorted(p.relative_to(folder_path).as_posix() for p in Path(folder_path).rglob("*") if p.is_file())
            return "commit-url"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert tiny_pipeline().push_to_hub("me/tiny", token="t") == "commit-url"
    assert uploaded["repo"] == "me/tiny" and "pipeline.json" in uploaded["files"]  # type: ignore[operator]
    assert "backbone/model.safetensors" in uploaded["files"]  # type: ignore[operator]
