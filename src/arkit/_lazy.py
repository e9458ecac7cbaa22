"""Components registered by import path, and examples built on first use.

A plugin may register ``register("graphs/bfs", "arkit_graphs.constraint:BfsConstraint",
description=...)``: the registry then knows the component's name, description and
examples without importing its module (nor torch), so that ``arkit plugins`` and
``arkit components`` stay quick. The module is imported the first time the
component is built or its factory is inspected. A path whose module does not
exist fails the plugin at registration, like any other registration error; a
module that fails to import, an attribute that is missing, or a class that does
not satisfy its protocol is an :class:`arkit.PluginLoadError` (or
:class:`arkit.ComponentProtocolError`) naming the plugin, raised on first use and
reported by ``arkit plugins --check``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import importlib
import importlib.util
import inspect
import sys
from typing import Any, overload

from .errors import ComponentProtocolError, ConfigError, PluginLoadError

__all__ = ["LazyCallable", "LazyExamples", "LazyFactory", "made_by"]


def _is_dotted(text: str) -> bool:
    return bool(text) and all(part.isidentifier() for part in text.split("."))


class LazyCallable:
    """A function named by ``"module:attribute"``, imported on its first call.

    The module must exist when it is registered (checked without importing it); a module
    that fails to import or an attribute that is missing is the plugin's
    :class:`arkit.PluginLoadError`, raised on first use.
    """

    _what = "path"

    def __init__(self, path: str, *, kind: str, name: str, plugin: str, distribution: str | None) -> None:
        module, sep, attribute = path.partition(":")
        if not sep or not _is_dotted(module) or not _is_dotted(attribute):
            raise ConfigError(f"{kind} {name!r}: the {self._what} {path!r} is not 'module:attribute' "
                              f"(for example 'arkit_mydomain.tokenizer:MyTokenizer')")
        try:  # cheap: imports at most the parent packages, which keep their own imports lazy
            spec = importlib.util.find_spec(module)
        except Exception as exc:  # noqa: BLE001 - a parent package that fails to import, a malformed name
            raise ConfigError(f"{kind} {name!r}: cannot find module {module!r} of the {self._what} {path!r}: "
                              f"{type(exc).__name__}: {exc}") from None
        if spec is None:
            raise ConfigError(f"{kind} {name!r}: there is no module {module!r} (the {self._what} {path!r})")
        self.path = path
        self.module = module
        self.attribute = attribute
        self.kind = kind
        self.name = name
        self.plugin = plugin
        self.distribution = distribution
        self._target: Callable[..., Any] | None = None

    def _import(self) -> Any:
        try:
            target: Any = importlib.import_module(self.module)
            for part in self.attribute.split("."):
                target = getattr(target, part)
        except Exception as exc:  # noqa: BLE001 - whatever the plugin's module raises is the plugin's failure
            raise PluginLoadError(self.plugin, self.distribution,
                                  f"{self.kind} {self.name!r}: importing its {self._what} {self.path!r} raised "
                                  f"{type(exc).__name__}: {exc}") from exc
        if not callable(target):
            raise PluginLoadError(self.plugin, self.distribution,
                                  f"{self.kind} {self.name!r}: {self.path!r} is not callable")
        return target

    def resolve(self) -> Callable[..., Any]:
        """The function itself, imported the first time."""
        if self._target is None:
            self._target = self._import()
        return self._target

    def __call__(self, *args: Any, **config: Any) -> Any:
        return self.resolve()(*args, **config)

    def __repr__(self) -> str:
        return f"<{self.path} (imported on first use)>"


class LazyFactory(LazyCallable):
    """A factory named by ``"module:attribute"``, imported on first call or inspection.

    It stands in for the factory in :class:`arkit.ComponentInfo`: calling it builds
    the component, ``inspect.signature`` gives the factory's signature, and other
    public attributes (``lossless``) are read from the factory.
    """

    _what = "factory path"

    def resolve(self) -> Callable[..., Any]:
        """The factory itself: imports its module the first time, checks it against the kind's protocol."""
        if self._target is not None:
            return self._target
        target = self._import()
        from ._conformance import check_factory

        try:
            check_factory(self.kind, self.name, target)
        except ComponentProtocolError as exc:
            raise ComponentProtocolError(f"{exc} (plugin {self.plugin!r}, factory {self.path!r})") from None
        self._target = target
        return target

    def made(self, cls: type) -> bool:
        """Whether this factory is the class ``cls``, without importing a module nobody has imported yet."""
        if self._target is None and self.module not in sys.modules:
            return f"{cls.__module__}:{cls.__qualname__}" == self.path  # its module is not loaded: not its class
        try:
            return self.resolve() is cls
        except (PluginLoadError, ComponentProtocolError):
            return False

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self.resolve())

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") or attribute in ("_target",):
            raise AttributeError(attribute)
        return getattr(self.resolve(), attribute)

    def __repr__(self) -> str:
        return f"<factory {self.path} (imported on first use)>"


def made_by(factory: Any, cls: type) -> bool:
    """Whether a registered factory is the class ``cls`` (a :class:`LazyFactory` is not imported for this)."""
    return factory.made(cls) if isinstance(factory, LazyFactory) else factory is cls


class LazyExamples(Sequence[Any]):
    """A component's ``examples``, built by the plugin's function the first time they are read."""

    def __init__(self, build: Callable[[], Sequence[Any]], *, kind: str, name: str, plugin: str,
                 distribution: str | None) -> None:
        self._build = build
        self._items: tuple[Any, ...] | None = None
        self._where = (kind, name, plugin, distribution)

    def _get(self) -> tuple[Any, ...]:
        if self._items is None:
            kind, name, plugin, distribution = self._where
            try:
                self._items = tuple(self._build())
            except Exception as exc:  # noqa: BLE001 - the plugin's function failed: the plugin's failure
                raise PluginLoadError(plugin, distribution, f"{kind} {name!r}: building its examples raised "
                                                            f"{type(exc).__name__}: {exc}") from exc
        return self._items

    @overload
    def __getitem__(self, index: int) -> Any: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Any, ...]: ...

    def __getitem__(self, index: int | slice) -> Any:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[Any]:
        return iter(self._get())

    def __repr__(self) -> str:
        return repr(self._items) if self._items is not None else "<examples (built on first use)>"
