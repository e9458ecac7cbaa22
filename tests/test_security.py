"""Trust (issue 26): artifacts stay inside their folder, no crash leaves a user without a model,
a missing path never becomes a download, plugins cannot end arkit or take another's components,
and every bad input is an ArkitError.

Crashes are simulated, not caused: a "kill" at a step of a save is an exception raised there
while the cleanup a kill would skip (``shutil.rmtree``) does nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
import importlib
import json
import math
import os
from pathlib import Path
import shutil
import sys
from typing import Any

import pytest
import safetensors.torch
import torch

import arkit
from arkit import _serialization, cli, plugins
from arkit.constraints.state_machine import StateMachineConstraint
from tests.helpers import tiny_pipeline


@pytest.fixture()
def saved(tmp_path: Path) -> Path:
    return tiny_pipeline("core/multinomial").save_pretrained(tmp_path / "pipe")


def _edit_manifest(folder: Path, edit: Any) -> None:
    manifest = json.loads((folder / "pipeline.json").read_text())
    edit(manifest)
    (folder / "pipeline.json").write_text(json.dumps(manifest))


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


# -- item 4: weights outside the folder ------------------------------------------------------------------


@pytest.mark.parametrize("where", ["parent", "absolute", "symlink", "symlinked-folder"])
def test_weights_outside_the_artifact_folder_are_refused(saved: Path, tmp_path: Path, where: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(saved / "head" / "model.safetensors", outside / "model.safetensors")
    if where == "parent":
        _edit_manifest(saved, lambda m: m["components"]["head"].update(weights="../../elsewhere/model.safetensors"))
    elif where == "absolute":
        _edit_manifest(saved, lambda m: m["components"]["head"].update(weights=str(outside / "model.safetensors")))
    elif where == "symlink":
        (saved / "head" / "model.safetensors").unlink()
        (saved / "head" / "model.safetensors").symlink_to(outside / "model.safetensors")
    else:
        shutil.rmtree(saved / "head")
        shutil.copy(saved / "pipeline.json", outside / "unused.json")
        (saved / "head").symlink_to(outside)
    with pytest.raises(arkit.PipelineFormatError, match="outside the artifact folder|inside the head folder"):
        arkit.Pipeline.from_pretrained(saved)
    code, err = _cli(["generate", str(saved), "--prompt", "a", "--max-new-tokens", "1"], capsys)
    assert code == 1 and "arkit: error" in err


def test_a_symlinked_manifest_is_refused(saved: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text((saved / "pipeline.json").read_text())
    (saved / "pipeline.json").unlink()
    (saved / "pipeline.json").symlink_to(real)
    with pytest.raises(arkit.PipelineFormatError, match="outside the artifact folder"):
        arkit.Pipeline.from_pretrained(saved)


# -- item 5: errors never steer a user to install what an artifact names --------------------------------


def test_a_missing_component_never_suggests_installing_the_artifacts_distribution(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["components"]["tokenizer"].update(name="evil/tok", distribution="evil-dist>=9.9",
                                                                        version="9.9"))
    with pytest.raises(arkit.MissingPluginError) as info:
        arkit.Pipeline.from_pretrained(saved)
    message = str(info.value)
    assert "pip install" not in message and "evil/tok" in message
    assert "only if you trust" in message and "evil-dist>=9.9" in message


def test_a_missing_core_component_does_not_say_arkit_is_not_installed(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["components"]["head"].update(name="core/nonexistent"))
    with pytest.raises(arkit.MissingPluginError) as info:
        arkit.Pipeline.from_pretrained(saved)
    assert "not installed" not in str(info.value) and "which is installed" in str(info.value)


# -- item 6: export never writes over what is not an export folder ---------------------------------------


def test_export_refuses_an_existing_file(tmp_path: Path) -> None:
    from arkit.onnx import export

    victim = tmp_path / "passwd"
    victim.write_text("root:x:0:0\n")
    with pytest.raises(arkit.PipelineFormatError, match="not a folder"):
        export(tiny_pipeline(), victim)
    assert victim.read_text() == "root:x:0:0\n"
    assert [p.name for p in tmp_path.iterdir()] == ["passwd"]  # nothing moved aside, nothing left behind


# -- item 7: the target always names a complete version ------------------------------------------------


def _kill_at(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    """The ``call``-th ``Path.rename`` of this save is where the process dies; nothing after it runs."""
    real, seen = Path.rename, []

    def rename(self: Path, target: Any) -> Any:
        seen.append(self)
        if len(seen) == call:
            raise KeyboardInterrupt("killed")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)  # a killed process cleans nothing up


def _version(folder: Path) -> float:
    return float(json.loads((folder / "pipeline.json").read_text())["components"]["sampler"]["config"]["temperature"])


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_kill_between_the_renames_leaves_a_loadable_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               exchange: bool) -> None:
    target = tmp_path / "pipe"
    tiny_pipeline("core/multinomial", temperature=0.5).save_pretrained(target)
    if not exchange:
        monkeypatch.setattr(_serialization, "_exchange", lambda a, b: False)
    with monkeypatch.context() as m:
        _kill_at(m, 2)  # the old folder was renamed aside (two-renames), the new one not yet in
        try:
            tiny_pipeline("core/multinomial", temperature=0.7).save_pretrained(target)
        except KeyboardInterrupt:
            pass
    pipe = arkit.Pipeline.from_pretrained(target)  # recovers a missing target from what the save left
    assert pipe.sampler.config["temperature"] in (0.5, 0.7)
    assert target.is_dir()


def test_an_exchange_leaves_the_new_version_even_if_killed_before_cleanup(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    if not _serialization._exchange(tmp_path, tmp_path):  # swapping a path with itself: a no-op where supported
        pytest.skip("renameat2(RENAME_EXCHANGE) is not available here")
    target = tmp_path / "pipe"
    tiny_pipeline("core/multinomial", temperature=0.5).save_pretrained(target)
    monkeypatch.setattr(shutil, "rmtree", lambda *a, **k: None)
    tiny_pipeline("core/multinomial", temperature=0.7).save_pretrained(target)
    assert _version(target) == 0.7
    assert len(_hidden(tmp_path)) == 1  # the old version under the temporary's name, not yet deleted


def test_stale_temporaries_are_cleaned_on_the_next_save(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "pipe"
    tiny_pipeline().save_pretrained(target)
    for attempt in range(5):
        with monkeypatch.context() as m:
            m.setattr(_serialization, "_exchange", lambda a, b: False)
            _kill_at(m, 1 + attempt % 2)
            try:
                tiny_pipeline().save_pretrained(target)
            except KeyboardInterrupt:
                pass
    (tmp_path / ".pipe.tmp-legacy1").mkdir()  # what an earlier arkit left (no owner in the name)
    assert len(_hidden(tmp_path)) >= 5
    tiny_pipeline("core/multinomial", temperature=0.9).save_pretrained(target)
    assert _hidden(tmp_path) == [] and _version(target) == 0.9


def test_temporaries_of_a_live_process_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "pipe"
    other = tmp_path / f".pipe.tmp-{os.getppid()}-inprogress"  # a running process's save (our parent is alive)
    other.mkdir()
    tiny_pipeline().save_pretrained(target)
    assert other.is_dir()


# -- item 8: a missing local path never goes to the network ----------------------------------------------


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    import huggingface_hub

    calls: list[tuple[str, dict[str, Any]]] = []

    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        calls.append((repo_id, kwargs))
        raise ConnectionError("the test has no network")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


@pytest.mark.parametrize("name", ["models/my-model", "./my-model", "my-model/", "../my-model", "~/no-such-model-26"])
def test_a_missing_local_path_is_never_fetched_from_the_hub(name: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            no_network: list[Any]) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work" if name.startswith("..") else tmp_path)
    with pytest.raises(arkit.PipelineFormatError, match="does not exist.*never fetched"):
        arkit.Pipeline.from_pretrained(name)
    with pytest.raises(arkit.PipelineFormatError):
        arkit.Pipeline.from_pretrained(Path("no-such-folder"))
    assert no_network == []


def test_hf_hub_offline_reads_only_the_local_cache(monkeypatch: pytest.MonkeyPatch, no_network: list[Any]) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(arkit.PipelineFormatError, match="HF_HUB_OFFLINE"):
        arkit.Pipeline.from_pretrained("someone/model")
    assert no_network == [("someone/model", {"revision": None, "token": None, "local_files_only": True})]


# -- item 9: weights in a dtype the component never saved ------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32])
def test_weights_of_another_dtype_are_refused(saved: Path, dtype: torch.dtype) -> None:
    path = saved / "head" / "model.safetensors"
    tensors = safetensors.torch.load_file(str(path))
    safetensors.torch.save_file({k: v.to(dtype) for k, v in tensors.items()}, str(path))
    with pytest.raises(arkit.WeightsError, match={torch.float64: "stored as F64", torch.int32: "stored as I32"}[dtype]):
        arkit.Pipeline.from_pretrained(saved)


def test_half_precision_weights_still_load(saved: Path) -> None:
    path = saved / "head" / "model.safetensors"
    tensors = safetensors.torch.load_file(str(path))
    safetensors.torch.save_file({k: v.to(torch.bfloat16) for k, v in tensors.items()}, str(path))
    assert isinstance(arkit.Pipeline.from_pretrained(saved), arkit.Pipeline)


# -- item 10: export validation fails on NaN -------------------------------------------------------------


def test_an_export_with_nan_logits_fails_validation(tmp_path: Path) -> None:
    from arkit.onnx import export

    pipe = tiny_pipeline()
    with torch.no_grad():
        for p in pipe.head.parameters():
            p.fill_(float("nan"))
    with pytest.raises(arkit.ExportError, match="non-finite|nan"):
        export(pipe, tmp_path / "export", decode_graph=False)
    assert not (tmp_path / "export").exists()


# -- items 11 and 12: plugins ----------------------------------------------------------------------------


@pytest.fixture()
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder on sys.path whose plugins arkit finds through their (fake) installed metadata."""
    monkeypatch.delenv("ARKIT_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("ARKIT_DISABLE_PLUGINS", raising=False)
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    plugins._reset_plugins()
    yield folder
    plugins._reset_plugins()


def _install(site: Path, distribution: str, module: str, source: str) -> None:
    (site / f"{module}.py").write_text(source)
    info = site / f"{distribution.replace('-', '_')}-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.0.1\n")
    (info / "entry_points.txt").write_text(f"[arkit]\n{module.removeprefix('arkit_')} = {module}\n")
    importlib.invalidate_caches()
    sys.modules.pop(module, None)


@pytest.mark.parametrize("where", ["import", "hook"])
def test_a_plugin_calling_sys_exit_is_isolated_and_listed(site: Path, where: str) -> None:
    source = ("import sys\nsys.exit(3)\n" if where == "import" else
              "import sys\nimport arkit\n\n@arkit.hookimpl\ndef arkit_register_samplers(register):\n    sys.exit(4)\n")
    _install(site, "arkit-quitter", "arkit_quitter", source)
    with pytest.warns(arkit.ArkitPluginWarning, match="SystemExit"):
        listed = {p.name: p for p in arkit.list_plugins()}
    assert "SystemExit" in (listed["quitter"].error or "")
    assert arkit.create("sampler", "core/greedy") is not None


def test_a_plugin_cannot_swallow_keyboard_interrupt(site: Path) -> None:
    _install(site, "arkit-interrupted", "arkit_interrupted", "raise KeyboardInterrupt\n")
    with pytest.raises(KeyboardInterrupt):
        arkit.list_plugins()


def test_a_component_now_provided_by_another_distribution_is_refused(saved: Path) -> None:
    manifest = json.loads((saved / "pipeline.json").read_text())
    assert {c["distribution"] for c in manifest["components"].values()} == {"arkit"}
    assert all(c["version"] == arkit.__version__ for c in manifest["components"].values())
    _edit_manifest(saved, lambda m: m["components"]["sampler"].update(distribution="arkit-original", version="1.0"))
    with pytest.raises(arkit.PipelineFormatError, match="arkit-original.*provided by 'arkit'"):
        arkit.Pipeline.from_pretrained(saved)


# -- item 13: every bad input is an ArkitError -----------------------------------------------------------


BAD_GENERATE = {
    "token ids as strings": {"prompt_ids": [["1", "2"]]},
    "token ids as floats": {"prompt_ids": [[1.5, 2]]},
    "a flat list of ids": {"prompt_ids": [1, 2]},
    "max_new_tokens=1.5": {"prompt_ids": [[1, 2]], "max_new_tokens": 1.5},
    "seed='x'": {"prompt_ids": [[1, 2]], "seed": "x"},
    "seed=1.5": {"prompt_ids": [[1, 2]], "seed": 1.5},
    "guidance_scale=NaN": {"prompt_ids": [[1, 2]], "guidance_scale": math.nan},
    "length_penalty=inf": {"prompt_ids": [[1, 2]], "length_penalty": math.inf},
    "eos_token_ids=['a']": {"prompt_ids": [[1, 2]], "eos_token_ids": ["a"]},
    "num_draft_tokens=2.0": {"prompt_ids": [[1, 2]], "num_draft_tokens": 2.0},
    "a constraint allowing id 5000": {"prompt_ids": [[1, 2]],
                                      "constraint": StateMachineConstraint({0: {5000: 0, 1: 0}}, start=0)},
}


@pytest.mark.parametrize("case", sorted(BAD_GENERATE))
def test_bad_generate_inputs_are_arkit_errors(case: str) -> None:
    pipe = tiny_pipeline("core/multinomial")
    kwargs = {"max_new_tokens": 2, **BAD_GENERATE[case]}
    for call in (pipe.generate, lambda **kw: list(pipe.stream(**kw))):
        with pytest.raises(arkit.ArkitError) as info:
            call(**kwargs)
        if case.startswith("a constraint"):
            assert isinstance(info.value, arkit.ConstraintError) and "5000" in str(info.value)
            assert "[0, 259)" in str(info.value)


def test_a_constraint_allowing_ids_outside_the_vocabulary_fails_speculative_decoding_too() -> None:
    pipe = tiny_pipeline().replace(drafter=arkit.create("drafter", "core/prompt-lookup"))
    with pytest.raises(arkit.ConstraintError, match="5000"):
        pipe.generate(prompt_ids=[[1, 2]], max_new_tokens=3,
                      constraint=StateMachineConstraint({0: {5000: 0, 1: 0}}, start=0))


@pytest.mark.parametrize("sampler, config", [("core/multinomial", {"temperature": math.nan}),
                                             ("core/temperature", {"temperature": math.inf}),
                                             ("core/repetition-penalty", {"penalty": math.nan}),
                                             ("core/multinomial", {"temperature": True})])
def test_non_finite_sampler_settings_fail_when_built(sampler: str, config: dict[str, Any]) -> None:
    with pytest.raises(arkit.ConfigError):
        arkit.create("sampler", sampler, **config)


@pytest.mark.parametrize("config", [{"seed": "x"}, {"lr": math.inf}, {"warmup_steps": 1.5}, {"threads": 2.0},
                                    {"shuffle": "yes"}])
def test_bad_train_configs_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(arkit.ConfigError):
        arkit.TrainConfig(**config)


def test_a_deeply_nested_manifest_is_a_format_error(saved: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (saved / "pipeline.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(arkit.PipelineFormatError, match="nests"):
        arkit.Pipeline.from_pretrained(saved)
    code, err = _cli(["generate", str(saved), "--prompt", "a"], capsys)
    assert code == 1 and "nests" in err


def test_a_config_too_large_to_allocate_is_a_config_error(saved: Path) -> None:
    _edit_manifest(saved, lambda m: m["components"]["head"]["config"].update(vocab_size=10**10))
    with pytest.raises(arkit.ConfigError, match="GiB"):
        arkit.Pipeline.from_pretrained(saved)


def test_a_hub_snapshot_whose_files_link_into_its_blobs_loads(saved: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    repo = tmp_path / "hub" / "models--someone--tiny"
    snapshot = repo / "snapshots" / "abc123"
    (repo / "blobs").mkdir(parents=True)
    for i, file in enumerate(sorted(p for p in saved.rglob("*") if p.is_file())):
        blob = repo / "blobs" / f"blob{i}"
        shutil.copy(file, blob)
        link = snapshot / file.relative_to(saved)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kwargs: str(snapshot))
    assert isinstance(arkit.Pipeline.from_pretrained("someone/tiny"), arkit.Pipeline)
    with pytest.raises(arkit.PipelineFormatError, match="outside the artifact folder"):
        arkit.Pipeline.from_pretrained(snapshot)  # the same folder given as a path: links leave it
