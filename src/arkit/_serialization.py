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
import ctypes
import errno
import importlib.metadata
import inspect
import json
import os
from pathlib import Path
import re
import shutil
import sys
import tempfile
from typing import Any
import warnings

import safetensors
import safetensors.torch
import torch
from torch import nn

from ._version import __version__
from .errors import (
    ArkitConfigWarning,
    ArkitError,
    ConfigError,
    PipelineFormatError,
    UnknownComponentError,
    MissingPluginError,
    WeightsError,
)
from .plugins import is_disabled
from .registry import component_info, create, get_component, list_components
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


def _identify(role: str, obj: Any) -> tuple[Any, Any]:
    """The registry entry ``obj`` was built from, and its config as JSON; a clear error when it has neither."""
    per_call = (" A constraint that is not saved can instead be passed per call: generate(..., constraint=rule)."
                if role == "constraint" else "")
    try:
        info = component_info(role, obj)
    except UnknownComponentError:
        raise ConfigError(
            f"cannot save the {role} {type(obj).__qualname__}: it is not a registered component, so a loader could "
            f"not rebuild it. Register its class in a plugin's arkit_register_{role}s hook (or build it with "
            f"arkit.create).{per_call}"
        ) from None
    if not isinstance(getattr(obj, "config", None), Mapping):
        raise ConfigError(f"cannot save the {role} {info.name!r}: it has no `config` mapping (the keyword arguments "
                          f"that rebuild it), which every saved component needs.{per_call}")
    return info, _json(dict(obj.config), f"{role} {info.name!r}")


def save_pipeline(components: Mapping[str, Any], directory: str | os.PathLike[str]) -> Path:
    target = Path(directory)
    if target.exists() and not target.is_dir():
        raise PipelineFormatError(f"cannot save to {target}: it is a file")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).is_file():
        raise PipelineFormatError(
            f"refusing to save into {target}: the folder is not empty and holds no {MANIFEST}; choose a new folder"
        )
    tmp = new_temporary(target)
    try:
        manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, "arkit_version": __version__, "components": {}}
        for role, obj in components.items():
            info, config = _identify(role, obj)
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
        discard_temporary(tmp)
        raise
    return target


# -- replacing a folder so that its path always names a complete version ----------------------------------
#
# A save is written to a temporary sibling ``.<name>.tmp-<pid>-<random>`` and then swapped in. On Linux the
# swap is one renameat2(RENAME_EXCHANGE) call: the target names the old version, then the new one, never
# nothing; the old version, now under the temporary's name, is deleted afterwards. Where that call does not
# exist (other systems, some filesystems) the old version is first renamed to ``.<name>.old-<pid>-<random>``
# and the new one renamed in; a crash between the two renames leaves no target, so loading a missing
# target restores the newest ``.old-*`` sibling (:func:`recover_folder`). Siblings left by crashed
# processes (their pid is gone, or it is this process and the folder is not in use) are removed on the next
# save to the same target, after any recovery.

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_IN_USE: set[str] = set()  # temporaries this process is writing or swapping right now


def new_temporary(target: Path) -> Path:
    """A fresh temporary folder next to ``target`` for a save, after recovering and cleaning up earlier crashes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        recover_folder(target)
    _clean_stale(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    _IN_USE.add(str(tmp))
    return tmp


def _siblings(target: Path, kind: str) -> list[Path]:
    """Hidden ``.<name>.<kind>-*`` folders next to ``target`` (kind ``tmp`` or ``old``), newest first."""
    prefix = f".{target.name}.{kind}-"
    try:
        found = [p for p in target.parent.iterdir() if p.name.startswith(prefix) and not p.is_symlink() and p.is_dir()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _owner_alive(path: Path, kind: str, target: Path) -> bool:
    """Whether the process that made ``path`` may still be using it.

    A name without an owner's pid is a leftover of an earlier arkit's crash; a pid that exists but is
    not ours to signal counts as alive.
    """
    rest = path.name[len(f".{target.name}.{kind}-"):]
    pid_text = rest.split("-", 1)[0]
    if not pid_text.isdigit() or "-" not in rest:
        return False  # a temporary from an arkit without owners in names: a leftover of a crash
    pid = int(pid_text)
    if pid == os.getpid():
        return str(path) in _IN_USE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but belongs to someone else
        return True
    return True


def _clean_stale(target: Path) -> None:
    for kind in ("tmp", "old"):
        for path in _siblings(target, kind):
            if not _owner_alive(path, kind, target):
                shutil.rmtree(path, ignore_errors=True)


def recover_folder(target: str | os.PathLike[str]) -> bool:
    """Restore a missing ``target`` from the newest complete version a crashed save left beside it.

    Only a ``.old-*`` sibling (a version that was complete at ``target`` before the crash) is restored.
    Returns whether ``target`` exists afterwards.
    """
    target = Path(target)
    if target.exists() or not target.parent.is_dir():
        return target.exists()
    for old in _siblings(target, "old"):
        try:
            old.rename(target)
        except OSError:
            continue
        return True
    return False


def discard_temporary(path: Path) -> None:
    """Delete a temporary folder from :func:`new_temporary` (what a failed save leaves)."""
    _IN_USE.discard(str(path))
    shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths ``a`` and ``b`` in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns ``False`` where the system or filesystem cannot; raises ``OSError`` for other failures.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_folder(tmp: Path, target: Path) -> None:
    """Put the finished folder ``tmp`` at ``target`` so that ``target`` always names a complete version."""
    _IN_USE.add(str(tmp))
    try:
        if not target.exists():
            tmp.rename(target)
        elif _exchange(tmp, target):  # target: the new version; tmp: the old one
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-", dir=target.parent))
            backup.rmdir()
            _IN_USE.add(str(backup))
            target.rename(backup)  # a kill from here to the next rename is repaired by recover_folder
            try:
                tmp.rename(target)
            except BaseException:
                if not target.exists():
                    backup.rename(target)
                raise
            finally:
                _IN_USE.discard(str(backup))
            shutil.rmtree(backup, ignore_errors=True)
    finally:
        _IN_USE.discard(str(tmp))
    _clean_stale(target)


def _read_manifest(directory: Path, root: Path | None = None, partial: bool = False) -> dict[str, Any]:
    path = directory / MANIFEST
    if not path.is_file():
        raise PipelineFormatError(f"{directory} is not a saved arkit pipeline: it has no {MANIFEST}")
    manifest = _read_json(_inside(directory, MANIFEST, "the manifest", root))
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
    missing = [] if partial else [r for r in REQUIRED_ROLES if r not in manifest["components"]]
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


_MAX_JSON_BYTES = 64 * 1024 * 1024
_MAX_JSON_DEPTH = 64


def _read_json(path: Path) -> Any:
    """Parse an artifact's JSON file; :class:`PipelineFormatError` for anything that is not sane JSON."""
    try:
        if path.stat().st_size > _MAX_JSON_BYTES:
            raise PipelineFormatError(f"{path} is larger than {_MAX_JSON_BYTES // 2**20} MiB; an arkit config is a "
                                      f"few kilobytes: the folder is corrupt or not an arkit artifact")
        text = path.read_text()
    except FileNotFoundError:
        raise PipelineFormatError(f"{path} does not exist; copy the whole folder again") from None
    except OSError as exc:
        raise PipelineFormatError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PipelineFormatError(f"{path} is not UTF-8 text ({exc.reason}); the folder is corrupt") from None
    depth = _nesting(text)
    if depth > _MAX_JSON_DEPTH:
        raise PipelineFormatError(f"{path} nests {depth} levels deep (at most {_MAX_JSON_DEPTH} are read); "
                                  f"the folder is corrupt or not an arkit artifact")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise PipelineFormatError(f"{path} is not valid JSON ({exc}); the folder is corrupt: save it again") from None


def _nesting(text: str) -> int:
    """How deep brackets nest in JSON ``text`` (brackets inside strings ignored), without parsing it."""
    scrubbed = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    depth = deepest = 0
    for char in re.sub(r"[^\[\]{}]", "", scrubbed):
        depth += 1 if char in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _inside(directory: Path, relative: str, what: str, root: Path | None = None) -> Path:
    """``directory / relative``, refused unless it names a path inside ``directory`` and, once links are
    followed, stays inside ``root`` (``directory`` itself, or a Hub repo's cache folder, whose snapshot
    files are links to its ``blobs``)."""
    if not isinstance(relative, str) or not relative or "\x00" in relative or Path(relative).is_absolute():
        raise PipelineFormatError(f"{directory / MANIFEST}: {what} path {relative!r} must be a relative path inside "
                                  f"the artifact folder")
    folder = os.path.normpath(os.path.abspath(directory))
    named = os.path.normpath(os.path.join(folder, relative))
    root = (root or directory).resolve()
    path = (directory / relative).resolve()
    if os.path.commonpath([folder, named]) != folder or (path != root and root not in path.parents):
        raise PipelineFormatError(f"{directory}: {what} {relative!r} leads outside the artifact folder (to {path}); "
                                  f"refusing to read it. An artifact reads only its own files")
    return path


def _missing_component(role: str, entry: Mapping[str, Any], known: Any) -> MissingPluginError:
    """The error for a component no installed plugin provides, suggesting only what can be trusted.

    The distribution named in ``pipeline.json`` is untrusted text: it is never turned into an install
    command. The message says which component is missing and what the artifact claims provides it.
    """
    name, claimed = entry["name"], entry.get("distribution")
    error = MissingPluginError(role, name, None, None, known)
    error.distribution = claimed if isinstance(claimed, str) else None
    if isinstance(claimed, str) and claimed:
        try:
            installed = importlib.metadata.version(claimed)
        except (importlib.metadata.PackageNotFoundError, ValueError):
            installed = None
        if installed is not None and is_disabled(claimed, entry.get("plugin"), str(name).split("/", 1)[0]):
            detail = (f"the artifact says it comes from {claimed!r}, which is installed (version {installed}) but "
                      f"disabled by ARKIT_DISABLE_PLUGINS={os.environ.get('ARKIT_DISABLE_PLUGINS', '')!r}: remove "
                      f"it from that variable to load this pipeline.")
        elif installed is not None:
            detail = (f"the artifact says it comes from {claimed!r}, which is installed (version {installed}) but "
                      f"provides no such {role}: the artifact needs another version of it, or names a component "
                      f"that does not exist. Run `arkit plugins` to see whether its plugin failed to load.")
        else:
            detail = (f"the artifact says it comes from the distribution {claimed!r}, which is not installed. "
                      f"Install it only if you trust its source: the name is read from the artifact.")
        error.message = f"{error.message.split(' Run `')[0]} No installed plugin provides {role} {name!r}; {detail}"
        error.args = (error.message,)
    return error


def _check_provider(role: str, entry: Mapping[str, Any], info: Any) -> None:
    """Refuse a component that a different distribution now provides than the one that saved it."""
    saved, now = entry.get("distribution"), info.distribution
    if not isinstance(saved, str) or not saved or now is None:
        return  # saved by an in-process plugin, or provided by one now: nothing to compare
    if _normalize(saved) != _normalize(now):
        raise PipelineFormatError(
            f"{role} {info.name!r} was saved from the distribution {saved!r} (version {entry.get('version')}), but "
            f"here it is provided by {now!r} (version {info.version}, plugin {info.plugin!r}); refusing to load a "
            f"component another package has taken over. Uninstall the one you do not trust, or block it with "
            f"ARKIT_DISABLE_PLUGINS={info.plugin}."
        )


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_SAFE_CASTS = {torch.float16, torch.bfloat16, torch.float32}  # what arkit's float components may be saved in


def _check_dtypes(obj: nn.Module, path: Path, role: str, name: str) -> None:
    """Refuse tensors whose dtype the component would not have saved (float64 for float32, int32 for int64...)."""
    expected = obj.state_dict()
    with safetensors.safe_open(str(path), framework="pt") as handle:
        for key in handle.keys():
            if key not in expected:
                continue  # strict loading names unexpected keys
            saved = handle.get_slice(key).get_dtype()
            got = _SAFETENSORS_DTYPES.get(saved)
            want = expected[key].dtype
            if got == want or (got in _SAFE_CASTS and want in _SAFE_CASTS):
                continue
            raise WeightsError(f"{path}: tensor {key!r} of {role} {name!r} is stored as {saved}, but the component "
                               f"holds {str(want).removeprefix('torch.')}; arkit does not cast weights it would not "
                               f"have saved. Convert the file to {str(want).removeprefix('torch.')} first")


_SAFETENSORS_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}


def load_component(directory: str | os.PathLike[str], role: str, entry: Mapping[str, Any] | None = None, *,
                   root: str | os.PathLike[str] | None = None) -> Any:
    """Rebuild one component from ``directory/role`` (``config.json`` and weights).

    ``entry`` is the component's record in ``pipeline.json``; without it the
    component folder's own ``config.json`` is read. Every file read must stay inside
    ``directory`` (inside ``root`` once links are followed: a Hub cache's repo folder).
    """
    directory = Path(directory)
    if entry is None:
        entry = _read_json(_inside(directory, f"{role}/config.json", f"the {role} config", _root(root)))
        if isinstance(entry, dict):
            entry = {**entry, "weights": WEIGHTS if (directory / role / WEIGHTS).is_file() else None}
    if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str) or not isinstance(entry.get("config", {}), dict):
        raise PipelineFormatError(f"{directory / MANIFEST}: component {role!r} needs a 'name' string and a 'config' object")
    try:
        info = get_component(role, entry["name"])  # type: ignore[arg-type]
    except UnknownComponentError:
        raise _missing_component(role, entry, {c.name: c for c in list_components(role)}) from None
    _check_provider(role, entry, info)
    weights = entry.get("weights")
    if weights is not None and (not isinstance(weights, str) or Path(weights).is_absolute()):
        raise PipelineFormatError(f"{directory / MANIFEST}: the {role} weights must be a file name inside the {role} "
                                  f"folder, got {weights!r}")
    path = _inside(directory, f"{role}/{weights}", f"the {role} weights", _root(root)) if weights else None
    obj = _build_guarded(info, _accepted_config(info, entry.get("config", {}), role), role)
    if path is not None:
        if not path.is_file():
            raise WeightsError(f"{role} weights are missing: {path} does not exist; copy the whole folder again")
        if not isinstance(obj, nn.Module):
            raise WeightsError(f"{role} {info.name!r} has a weights file but is not an nn.Module")
        try:
            _check_dtypes(obj, path, role, info.name)
            safetensors.torch.load_model(obj, str(path), strict=True)
        except (RuntimeError, OSError, ValueError, safetensors.SafetensorError) as exc:
            first = str(exc).strip().splitlines()[0][:300]
            raise WeightsError(f"{path} does not fit {role} {info.name!r} with its saved config: {first}") from None
    return obj


def _build_guarded(info: Any, config: Mapping[str, Any], role: str) -> Any:
    """Build a component from a saved (untrusted) config: whatever goes wrong is a :class:`ConfigError`.

    An allocation the machine cannot make says how much memory the config asks for.
    """
    try:
        return create(info.kind, info.name, **config)
    except ArkitError:
        raise
    except Exception as exc:  # noqa: BLE001 - the artifact's config is untrusted input to the factory
        text = str(exc)
        wanted = re.search(r"allocate (\d+) bytes", text)
        if not isinstance(exc, MemoryError) and wanted is None:
            first = text.strip().splitlines()[0][:300] if text.strip() else ""
            raise ConfigError(f"{role} {info.name!r} cannot be built from the config in {MANIFEST} "
                              f"({type(exc).__name__}: {first}); the artifact is corrupt or was written for "
                              f"another version of its plugin") from None
        need = f"{int(wanted.group(1)) / 2**30:,.1f} GiB" if wanted else "more memory than there is"
        large = {k: v for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 2**20}
        raise ConfigError(f"{role} {info.name!r} with its saved config {large or ''} needs {need} for its tensors, "
                          f"more than this machine can allocate; the config is wrong or the model does not fit here"
                          ) from None


def _root(root: str | os.PathLike[str] | None) -> Path | None:
    return None if root is None else Path(root)


def load_components(directory: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None,
                    partial: bool = False) -> dict[str, Any]:
    """Every component of the pipeline saved in ``directory`` (``root``: see :func:`load_component`).

    ``partial``: the folder may hold only some roles (a preset's additions to its base preset)."""
    directory = Path(directory)
    if not directory.is_dir():
        recover_folder(directory)
    if not directory.is_dir():
        raise PipelineFormatError(f"no saved pipeline at {directory}: the folder does not exist")
    manifest = _read_manifest(directory, _root(root), partial)
    return {role: load_component(directory, role, entry, root=root) for role, entry in manifest["components"].items()}
