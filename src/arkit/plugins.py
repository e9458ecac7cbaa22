"""Loading plugins: the built-ins, then every ``arkit`` entry point, one at a time.

This module is a thin, failure-isolating facade over a ``pluggy.PluginManager``.
pluggy's own ``load_setuptools_entrypoints`` stops at the first plugin that
raises; arkit imports each entry point separately so that one broken plugin is
recorded, warned about and listed by ``arkit plugins`` while every other plugin
keeps working.

Environment switches, read when plugins are first loaded:

- ``ARKIT_STRICT_PLUGINS=1``: a plugin failure raises :class:`arkit.PluginLoadError`.
- ``ARKIT_DISABLE_PLUGINS=a,b``: do not load these entry points (by entry-point
  or distribution name).
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import importlib
import importlib.metadata
import os
import re
import warnings
from typing import Any

import attrs
import pluggy

from . import hookspecs
from ._version import __version__
from .errors import ArkitPluginWarning, PluginLoadError

# The host's functions below are public to arkit's own packages (registry, cli, testing, serialization);
# plugin authors use ``arkit.testing.register_plugin`` and the ``ARKIT_*`` environment variables instead.
__all__ = ["ENTRY_POINT_GROUP", "BUILTIN_PLUGINS"]

#: Entry-point group third-party plugins are published under.
ENTRY_POINT_GROUP = "arkit"
#: Plugin name -> module, registered before any entry point, exactly like third-party plugins.
BUILTIN_PLUGINS: dict[str, str] = {"core": "arkit.builtins"}


@attrs.define
class _PluginRecord:
    name: str
    plugin: Any
    distribution: str | None
    version: str | None
    builtin: bool
    error: str | None = None


def strict_mode() -> bool:
    """Whether ``ARKIT_STRICT_PLUGINS`` is set: a plugin that fails to load then raises instead of warning."""
    return os.environ.get("ARKIT_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


def _normalize(name: str) -> str:
    """PEP 503 normalisation, so that ``Arkit_Foo`` and ``arkit-foo`` name the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _disabled() -> set[str]:
    return {_normalize(n.strip()) for n in os.environ.get("ARKIT_DISABLE_PLUGINS", "").split(",") if n.strip()}


def is_disabled(*names: object) -> bool:
    """Whether ``ARKIT_DISABLE_PLUGINS`` blocks any of these entry-point or distribution names."""
    disabled = _disabled()
    return any(isinstance(n, str) and n and _normalize(n) in disabled for n in names)


class PluginHost:
    """Owns the plugin manager and the record of every plugin, loaded or failed."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager("arkit")
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, _PluginRecord] = {}
        self.loaded = False
        self.generation = 0  # bumped on every change; the registry rebuilds when it moves

    # -- loading -----------------------------------------------------------------
    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        for name, module_name in BUILTIN_PLUGINS.items():
            # A failing built-in is a bug in arkit itself: let it raise.
            self.add(importlib.import_module(module_name), name, "arkit", __version__, builtin=True)
        disabled = _disabled()
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else None
            version = ep.dist.version if ep.dist is not None else None
            if _normalize(ep.name) in disabled or (dist is not None and _normalize(dist) in disabled):
                self.pm.set_blocked(ep.name)
                continue
            if ep.name in self.records:
                # never displace the plugin that has the name: record this one under its own key
                other = self.records[ep.name].distribution or "an in-process plugin"
                self.fail(f"{ep.name} [{dist}]", dist, version,
                          f"the plugin name {ep.name!r} is already used by {other}; rename the entry point")
                continue
            try:
                plugin = ep.load()
            except BaseException as exc:  # noqa: BLE001 - any import failure is isolated, sys.exit() included
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self.fail(ep.name, dist, version, f"import of {ep.value!r} raised {type(exc).__name__}: {exc}")
                continue
            self.add(plugin, ep.name, dist, version, builtin=False)

    def add(self, plugin: Any, name: str, distribution: str | None, version: str | None, *, builtin: bool) -> None:
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except BaseException as exc:  # noqa: BLE001 - pluggy validation errors, misspelled hooks, sys.exit()
            if builtin or isinstance(exc, KeyboardInterrupt):
                raise
            self.fail(name, distribution, version, f"{type(exc).__name__}: {exc}", plugin=plugin)
            return
        self.records[name] = _PluginRecord(name, plugin, distribution, version, builtin)
        self.generation += 1

    def fail(
        self, name: str, distribution: str | None, version: str | None, reason: str, *, plugin: Any = None
    ) -> None:
        """Record a failed plugin (unregistering ``plugin`` if it got registered), warn, or raise in strict mode."""
        if plugin is not None and self.pm.get_plugin(name) is plugin:
            self.pm.unregister(name=name)
        self.records[name] = _PluginRecord(name, None, distribution, version, builtin=False, error=reason)
        self.generation += 1
        error = PluginLoadError(name, distribution, reason)
        if strict_mode():
            raise error
        warnings.warn(str(error), ArkitPluginWarning, stacklevel=3)

    def remove(self, name: str) -> None:
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        self.records.pop(name, None)
        self.generation += 1


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loading plugins on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
        try:
            _host.load()
        except BaseException:
            _host = None  # a strict-mode failure must not leave a half-loaded host behind
            raise
    return _host


def _reset_plugins() -> None:
    """Forget every loaded plugin; the next registry access loads them again."""
    global _host
    _host = None


@contextlib.contextmanager
def registered_plugin(plugin: Any, name: str) -> Iterator[Any]:
    """Load ``plugin`` under ``name`` for the duration of the block, then remove it (``arkit.testing`` builds on this)."""
    host = get_host()
    if name in host.records:
        raise ValueError(f"a plugin named {name!r} is already loaded; register yours under another name")
    host.add(plugin, name, None, None, builtin=False)
    try:
        yield plugin
    finally:
        host.remove(name)
