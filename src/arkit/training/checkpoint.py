"""Training checkpoints: everything needed to resume exactly, written atomically.

A checkpoint is a folder ``checkpoint-<step>`` (eight digits) holding

    model.safetensors       backbone.* and head.* weights
    optimizer.safetensors   the optimiser's tensors (AdamW moments and step counts)
    rng.safetensors         torch's CPU (and CUDA) random states, one set per rank
    trainer.json            step, data position, scheduler state, optimiser hyper-parameters,
                            Python's random state, the losses so far, and the architecture
                            (registry name and config of tokenizer, backbone and head)

No pickle anywhere. A checkpoint is written into a hidden temporary folder and renamed
into place, so a crash leaves either the whole checkpoint or none (leftover temporary
folders are ignored and cleaned up by the next save). Only the newest ``keep`` are kept.
Loading checks the architecture first and refuses a checkpoint written for another
one with a :class:`arkit.CheckpointError`.
"""

from __future__ import annotations

from collections.abc import Mapping
import inspect
import json
import os
from pathlib import Path
import random
import re
import shutil
import tempfile
from typing import Any

import safetensors
import safetensors.torch
import torch

from ..errors import CheckpointError

__all__ = ["CheckpointError", "architecture", "latest", "list_checkpoints", "load_model", "read", "save"]

_NAME = re.compile(r"^checkpoint-(\d{8,})$")
_FORMAT = 1


def architecture(components: Mapping[str, Any]) -> dict[str, Any]:
    """Registry name and config of the tokenizer, backbone and head: what a checkpoint must fit."""
    from ..registry import component_info

    out: dict[str, Any] = {}
    for role in ("tokenizer", "backbone", "head"):
        obj = components[role]
        try:
            name = component_info(role, obj).name
        except Exception:  # noqa: BLE001 - an unregistered object is named by its class
            name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        config = json.loads(json.dumps(dict(getattr(obj, "config", {}) or {}), default=str))
        out[role] = {"name": name, "config": config}
    return out


def list_checkpoints(directory: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    root = Path(directory)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / "trainer.json").is_file()]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]


def latest(directory: str | os.PathLike[str]) -> Path | None:
    found = list_checkpoints(directory)
    return found[-1] if found else None


# -- optimiser state <-> safetensors + JSON ----------------------------------------------
def _split_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, entry in state["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state/{pid}/{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _key(pid: str) -> int | str:
    return int(pid) if pid.isdigit() else pid  # parameter index, or a parameter name (FSDP)


def _join_optimizer(tensors: Mapping[str, torch.Tensor], meta: Mapping[str, Any]) -> dict[str, Any]:
    state: dict[Any, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        _, pid, key = name.split("/", 2)
        state.setdefault(_key(pid), {})[key] = tensor
    for pid, entry in meta.get("scalars", {}).items():
        state.setdefault(_key(pid), {}).update(entry)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else dict(g) for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# -- save -------------------------------------------------------------------------------
def save(
    directory: str | os.PathLike[str],
    *,
    step: int,
    model_state: Mapping[str, torch.Tensor],
    optimizer_state: Mapping[str, Any],
    rng_states: list[dict[str, torch.Tensor]],
    trainer: Mapping[str, Any],
    keep: int,
) -> Path:
    """Write ``checkpoint-<step>`` atomically, then drop all but the newest ``keep``; return its path."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".checkpoint-tmp-*"):  # left by a crash in an earlier save
        shutil.rmtree(stale, ignore_errors=True)
    target = root / f"checkpoint-{step:08d}"
    tmp = Path(tempfile.mkdtemp(prefix=".checkpoint-tmp-", dir=root))
    try:
        weights = {k: v.detach().cpu().contiguous().clone() for k, v in model_state.items()}
        safetensors.torch.save_file(weights, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        tensors, meta = _split_optimizer(optimizer_state)
        safetensors.torch.save_file(tensors, str(tmp / "optimizer.safetensors"))
        rng = {f"rank{r}.{k}": v.contiguous() for r, states in enumerate(rng_states) for k, v in states.items()}
        safetensors.torch.save_file(rng, str(tmp / "rng.safetensors"))
        record = {"format": _FORMAT, "step": step, "optimizer": meta, "python_random": _py_state(), **trainer}
        (tmp / "trainer.json").write_text(json.dumps(record, indent=1) + "\n")
        for path in tmp.iterdir():  # on disk before the rename makes the checkpoint visible
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _py_state() -> list[Any]:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def rng_state(generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """This process's random states: torch's CPU generator, every CUDA device's, and ``generator``."""
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            states[f"cuda{i}"] = s
    if generator is not None:
        states["generator"] = generator.get_state()
    return states


# -- load -------------------------------------------------------------------------------
def read(path: str | os.PathLike[str], expected_architecture: Mapping[str, Any]) -> dict[str, Any]:
    """Read and check a checkpoint folder; return its parts (weights, optimiser state, rng, trainer record)."""
    path = Path(path)
    if not (path / "trainer.json").is_file():
        raise CheckpointError(f"{path} is not an arkit training checkpoint: it has no trainer.json")
    try:
        record = json.loads((path / "trainer.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path / 'trainer.json'} is not valid JSON ({exc}); the checkpoint is corrupt") from None
    if not isinstance(record, dict) or record.get("format") != _FORMAT:
        raise CheckpointError(f"{path} has checkpoint format {record.get('format') if isinstance(record, dict) else '?'}; "
                              f"this arkit reads format {_FORMAT}")
    saved = record.get("architecture", {})
    differences = _differences(saved, dict(expected_architecture))
    if differences:
        raise CheckpointError(
            f"{path} was written for a different architecture ({'; '.join(differences[:5])}): resume with the "
            f"pipeline it was trained with, or start a new run in another folder"
        )
    try:
        weights = safetensors.torch.load_file(str(path / "model.safetensors"))
        optimizer = safetensors.torch.load_file(str(path / "optimizer.safetensors"))
        rng = safetensors.torch.load_file(str(path / "rng.safetensors"))
    except (OSError, safetensors.SafetensorError, RuntimeError) as exc:
        raise CheckpointError(f"{path} is incomplete or corrupt: {str(exc).splitlines()[0][:200]}") from None
    ranks: dict[int, dict[str, torch.Tensor]] = {}
    for name, tensor in rng.items():
        rank, key = name.split(".", 1)
        ranks.setdefault(int(rank[4:]), {})[key] = tensor
    return {
        "record": record,
        "weights": weights,
        "optimizer": _join_optimizer(optimizer, record["optimizer"]),
        "rng": [ranks[r] for r in sorted(ranks)],
    }


def load_model(pipe: Any, path: str | os.PathLike[str]) -> int:
    """:meth:`arkit.Pipeline.load_checkpoint`: a checkpoint folder's (or a run folder's newest) model weights
    into ``pipe``'s backbone and head, checked against its architecture; return the checkpoint's step."""
    path = Path(path)
    if not _NAME.match(path.name):
        run = path / "checkpoints" if (path / "checkpoints").is_dir() else path
        found = latest(run) if run.is_dir() else None
        if found is None:
            raise CheckpointError(f"{path} holds no training checkpoint (checkpoint-<step> folders, directly or under "
                                  f"checkpoints/): pass a checkpoint folder or the TrainConfig.out_dir of a run")
        path = found
    state = read(path, architecture(pipe.components))
    weights = state["weights"]
    for role in ("backbone", "head"):
        part = {name[len(role) + 1:]: t for name, t in weights.items() if name.startswith(role + ".")}
        load_weights(getattr(pipe, role), part, path)
    return int(state["record"]["step"])


def _differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    out = []
    for role in ("tokenizer", "backbone", "head"):
        a, b = saved.get(role, {}), current.get(role, {})
        if a.get("name") != b.get("name"):
            out.append(f"{role} is {a.get('name')!r} in the checkpoint, {b.get('name')!r} here")
            continue
        ca, cb = a.get("config", {}), b.get("config", {})
        for key in sorted(set(ca) | set(cb)):
            if ca.get(key) == cb.get(key):
                continue
            if key not in ca and cb[key] == _default(role, b.get("name"), key):
                continue  # written before the option existed: the checkpoint has its default
            out.append(f"{role} {key} = {ca.get(key)!r} in the checkpoint, {cb.get(key)!r} here")
    return out


def _default(role: str, name: Any, key: str) -> Any:
    """The default of option ``key`` of the registered component ``name`` (a marker object when it has none)."""
    from ..registry import get_component

    missing = object()
    try:
        parameter = inspect.signature(get_component(role, name).factory).parameters.get(key)  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - not registered, or no signature: no default to compare with
        return missing
    return missing if parameter is None or parameter.default is inspect.Parameter.empty else parameter.default


def load_weights(model: torch.nn.Module, weights: Mapping[str, torch.Tensor], path: Any) -> None:
    """Copy checkpoint weights into ``model`` (strict: every name and shape must match)."""
    try:
        model.load_state_dict(dict(weights), strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(f"{path} does not fit this model: {' '.join(first)[:300]}") from None


def restore_rng(states: list[dict[str, torch.Tensor]], rank: int, generator: torch.Generator | None = None) -> None:
    mine = states[rank] if rank < len(states) else states[0]
    torch.set_rng_state(mine["torch"])
    if torch.cuda.is_available():
        cuda = [mine[k] for k in sorted(k for k in mine if k.startswith("cuda"))]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    if generator is not None and "generator" in mine:
        generator.set_state(mine["generator"])


def restore_python_random(record: Mapping[str, Any]) -> None:
    state = record.get("python_random")
    if state:
        random.setstate((state[0], tuple(state[1]), state[2]))
