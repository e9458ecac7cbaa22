"""Saving and loading pipelines as folders (the on-disk format).

    my-pipeline/
      pipeline.json              format version, arkit version, every component's
                                 registry name, plugin distribution and version, config
      tokenizer/config.json      {"name": ..., "config": ...}
      backbone/config.json
      backbone/model.safetensors weights of components that have tensors
      ...

Nothing is pickled and loading never runs code from the folder: each component
is rebuilt from the registry by name, then its weights are read with safetensors.
A save is written to a temporary folder next to the target and renamed into place,
so a failed save leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Mapping
import inspect
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any
import warnings

import safetensors
import safetensors.torch
from torch import nn

from ._version import __version__
from .errors import (
    ArkitConfigWarning,
    ConfigError,
    PipelineFormatError,
    UnknownComponentError,
    MissingPluginError,
    WeightsError,
)
from .registry import _build, _component_name, _get_registry, get_component
from .types import KINDS

FORMAT_VERSION = 1
MANIFEST = "pipeline.json"
WEIGHTS = "model.safetensors"
REQUIRED_ROLES = ("tokenizer", "backbone", "head")


def _has_tensors(obj: Any) -> bool:
    return isinstance(obj, nn.Module) and len(obj.state_dict()) > 0


def _json(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"the config of {what} is not JSON-serialisable ({exc}); components must keep "
                          f"tensors in state_dict() and plain values in config") from None


def save_pipeline(components: Mapping[str, Any], directory: str | os.PathLike[str]) -> Path:
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise PipelineFormatError(f"cannot save to {target}: it is a file")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise PipelineFormatError(
            f"refusing to save into {target}: the folder is not empty and holds no {MANIFEST}; choose a new folder"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, "arkit_version": __version__, "components": {}}
        for role, obj in components.items():
            info = _component_name(role, obj)
            config = _json(dict(obj.config), f"{role} {info.name!r}")
            (tmp / role).mkdir()
            weights = None
            if _has_tensors(obj):
                weights = WEIGHTS
                safetensors.torch.save_model(obj, str(tmp / role / WEIGHTS), force_contiguous=True)
            (tmp / role / "config.json").write_text(json.dumps({"name": info.name, "config": config}, indent=2) + "\n")
            manifest["components"][role] = {
                "name": info.name,
                "plugin": info.plugin,
                "distribution": info.distribution,
                "version": info.version,
                "config": config,
                "weights": weights,
            }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        replace_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def replace_folder(tmp: Path, target: Path) -> None:
    """Move the finished folder ``tmp`` to ``target``: old folder aside, new folder in, old folder away."""
    if target.exists():
        backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        backup.rmdir()
        target.rename(backup)
        tmp.rename(target)
        shutil.rmtree(backup, ignore_errors=True)
    else:
        tmp.rename(target)


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise PipelineFormatError(f"{directory} is not a saved arkit pipeline: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PipelineFormatError(f"{path} is not valid JSON ({exc}); the folder is corrupt: save it again") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("components"), dict):
        raise PipelineFormatError(f"{path} must be an object with a 'components' object; the folder is corrupt")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PipelineFormatError(f"{path} has no valid format_version (got {version!r}); the folder is corrupt")
    if version > FORMAT_VERSION:
        raise PipelineFormatError(
            f"{path} uses pipeline format {version}, written by arkit {manifest.get('arkit_version', '?')}; "
            f"this arkit ({__version__}) reads format {FORMAT_VERSION} or older: upgrade arkit"
        )
    missing = [r for r in REQUIRED_ROLES if r not in manifest["components"]]
    unknown = [r for r in manifest["components"] if r not in KINDS]
    if missing or unknown:
        raise PipelineFormatError(
            f"{path}: " + "; ".join(filter(None, [
                f"missing components {missing}" if missing else "",
                f"unknown roles {unknown} (roles are {list(KINDS)})" if unknown else "",
            ]))
        )
    return manifest


def _accepted_config(info: Any, config: Mapping[str, Any], role: str) -> dict[str, Any]:
    """Keep the keys the factory accepts; warn about the rest (newer or foreign configs still load)."""
    try:
        params = inspect.signature(info.factory).parameters
    except (TypeError, ValueError):
        return dict(config)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(config)
    unknown = sorted(set(config) - set(params))
    if unknown:
        warnings.warn(
            f"{role} {info.name!r}: ignoring config keys {unknown} that this version does not accept",
            ArkitConfigWarning,
            stacklevel=4,
        )
    return {k: v for k, v in config.items() if k in params}


def load_component(directory: str | os.PathLike[str], role: str, entry: Mapping[str, Any] | None = None) -> Any:
    """Rebuild one component from ``directory/role`` (``config.json`` and weights).

    ``entry`` is the component's record in ``pipeline.json``; without it the
    component folder's own ``config.json`` is read.
    """
    directory = Path(directory)
    if entry is None:
        path = directory / role / "config.json"
        try:
            entry = json.loads(path.read_text())
        except FileNotFoundError:
            raise PipelineFormatError(f"{path} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PipelineFormatError(f"{path} is not valid JSON ({exc})") from None
        entry = {**entry, "weights": WEIGHTS if (directory / role / WEIGHTS).is_file() else None}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("config", {}), dict):
        raise PipelineFormatError(f"{directory / MANIFEST}: component {role!r} needs a 'name' string and a 'config' object")
    try:
        info = get_component(role, entry["name"])  # type: ignore[arg-type]
    except UnknownComponentError:
        raise MissingPluginError(
            role, entry["name"], entry.get("distribution"), entry.get("version"), _get_registry().components[role]
        ) from None
    obj = _build(info, _accepted_config(info, entry.get("config", {}), role))
    weights = entry.get("weights")
    if weights:
        path = directory / role / str(weights)
        if not path.is_file():
            raise WeightsError(f"{role} weights are missing: {path} does not exist; copy the whole folder again")
        if not isinstance(obj, nn.Module):
            raise WeightsError(f"{role} {info.name!r} has a weights file but is not an nn.Module")
        try:
            safetensors.torch.load_model(obj, str(path), strict=True)
        except (RuntimeError, OSError, ValueError, safetensors.SafetensorError) as exc:
            first = str(exc).strip().splitlines()[0][:300]
            raise WeightsError(f"{path} does not fit {role} {info.name!r} with its saved config: {first}") from None
    return obj


def load_components(directory: str | os.PathLike[str]) -> dict[str, Any]:
    directory = Path(directory)
    if not directory.is_dir():
        raise PipelineFormatError(f"no saved pipeline at {directory}: the folder does not exist")
    manifest = _read_manifest(directory)
    return {role: load_component(directory, role, entry) for role, entry in manifest["components"].items()}
