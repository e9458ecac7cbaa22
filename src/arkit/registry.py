"""The component registry: names -> factories, built from the plugins' hooks.

Every plugin's ``arkit_register_*`` hooks are called once, each with a
``register`` callback bound to that plugin's name, so the registry knows who
registered what. A plugin registers all of its components or none: if one of
them fails (a duplicate name, an object that does not satisfy its protocol, an
exception inside the hook), the plugin's other registrations are rolled back and
the failure is recorded like an import failure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
import fnmatch
import inspect
import os
from pathlib import Path
from typing import Any

import attrs

from ._conformance import PROTOCOLS, check_conforms, check_factory
from ._lazy import LazyExamples, LazyFactory, made_by
from .errors import (
    ComponentProtocolError,
    ConfigError,
    DuplicateComponentError,
    PluginLoadError,
    UnknownComponentError,
)
from .plugins import get_host, PluginHost, strict_mode
from .types import KINDS, ComponentInfo, ExtraInput, Kind, PipelinePreset, PluginInfo

__all__ = [
    "check_conforms",
    "component_info",
    "create",
    "declared_inputs",
    "example_errors",
    "get_component",
    "get_converter",
    "get_preset",
    "list_components",
    "list_plugins",
    "list_presets",
]

_HOOKS = {kind: f"arkit_register_{kind}s" for kind in KINDS}
_COMPONENT_ATTR = "_arkit_component"  # set on created objects: (kind, name)


@attrs.define
class _Registry:
    components: dict[str, dict[str, ComponentInfo]]
    presets: dict[str, PipelinePreset]
    export_specs: dict[str, Callable[[Any], Any]]  # backbone name -> extra_inputs(backbone)
    host: PluginHost  # the registry is current while host and generation match
    generation: int
    converters: dict[str, _Converter] = attrs.Factory(dict)


@attrs.define
class _Converter:
    """A converter from ``arkit_register_converters``: a function, or ``"module:attribute"`` until first use."""

    name: str
    convert: Callable[..., Any] | str
    plugin: str
    distribution: str | None
    description: str


def _namespaced(name: str, plugin: str) -> str:
    if not isinstance(name, str) or not name or name.count("/") > 1 or name.startswith("/") or name.endswith("/"):
        raise ConfigError(f"invalid component name {name!r}: use 'domain/name'")
    return name if "/" in name else f"{_namespace(plugin)}/{name}"


def _namespace(plugin: str) -> str:
    """A plugin's own namespace: its (entry-point) name."""
    return plugin.split(".")[-1]


def _extends(plugin: Any) -> frozenset[str]:
    """The other namespaces a plugin declares it extends (its module's ``arkit_extends``)."""
    declared = getattr(plugin, "arkit_extends", ())
    if isinstance(declared, str) or not all(isinstance(n, str) and n and "/" not in n for n in declared):
        raise ConfigError(f"arkit_extends must be a list of plugin names (namespaces), got {declared!r}")
    return frozenset(declared)


def _check_namespace(what: str, full: str, plugin_name: str, extends: frozenset[str]) -> None:
    """Refuse a name outside the plugin's namespace, unless the plugin declared that it extends that namespace."""
    namespace, own = full.split("/", 1)[0], _namespace(plugin_name)
    if namespace != own and namespace not in extends:
        raise ConfigError(
            f"{what} {full!r} is outside the namespace of plugin {plugin_name!r}: its names start with {own + '/'!r} "
            f"(the entry-point name). Register it as {own + '/' + full.split('/', 1)[1]!r}, or, if the plugin extends "
            f"plugin {namespace!r}, declare it in the plugin module: arkit_extends = [{namespace!r}]"
        )


def _collect_plugin(host: PluginHost, plugin_name: str, registry: _Registry) -> None:
    """Call one plugin's hooks and commit its registrations, all or nothing."""
    record = host.records[plugin_name]
    staged: list[ComponentInfo] = []
    extends: frozenset[str] = frozenset()
    staged_presets: list[PipelinePreset] = []

    def make_register(kind: Kind) -> Callable[..., None]:
        def register(
            name: str, factory: Callable[..., Any], *, description: str = "", examples: tuple[Any, ...] = ()
        ) -> None:
            full = _namespaced(name, plugin_name)
            _check_namespace(kind, full, plugin_name, extends)
            if isinstance(factory, str):  # "module:attribute": imported when the component is first used
                factory = LazyFactory(factory, kind=kind, name=full, plugin=plugin_name,
                                      distribution=record.distribution)
            else:
                check_factory(kind, full, factory)
            existing = registry.components[kind].get(full) or next(
                (c for c in staged if c.kind == kind and c.name == full), None
            )
            if existing is not None:
                raise DuplicateComponentError(
                    f"{kind} {full!r} is registered twice: by plugin {existing.plugin!r} and by plugin "
                    f"{plugin_name!r}. Uninstall one of them, or block one with ARKIT_DISABLE_PLUGINS."
                )
            staged.append(
                ComponentInfo(
                    kind=kind,
                    name=full,
                    factory=factory,
                    plugin=plugin_name,
                    distribution=record.distribution,
                    version=record.version,
                    description=description or ("" if isinstance(factory, LazyFactory)
                                                else (inspect.getdoc(factory) or "").split("\n", 1)[0]),
                    examples=(_lazy_examples(examples, kind, full, plugin_name, record.distribution)
                              if callable(examples) else tuple(examples)),
                )
            )

        return register

    def register_preset(name: str, components: Mapping[str, tuple[str, Mapping[str, Any]]], *, description: str = "",
                        weights: str | os.PathLike[str] | None = None, base: str | None = None) -> None:
        full = _namespaced(name, plugin_name)
        if base is not None and (not isinstance(base, str) or base == full):
            raise ConfigError(f"preset {full!r}: base must name another preset, got {base!r}")
        _check_namespace("preset", full, plugin_name, extends)
        if weights is not None and not (Path(weights) / "pipeline.json").is_file():
            raise ConfigError(f"preset {full!r}: its weights folder {str(weights)!r} holds no pipeline.json "
                              f"(write it with Pipeline.save_pretrained)")
        if full in registry.presets or any(p.name == full for p in staged_presets):
            other = registry.presets[full].plugin if full in registry.presets else plugin_name
            raise DuplicateComponentError(
                f"preset {full!r} is registered twice: by plugin {other!r} and by plugin {plugin_name!r}"
            )
        roles = set(components) - set(KINDS)
        if roles:
            raise ConfigError(f"preset {full!r} has unknown roles {sorted(roles)}; roles are {list(KINDS)}")
        staged_presets.append(
            PipelinePreset(
                name=full,
                components={role: (ref, dict(cfg)) for role, (ref, cfg) in components.items()},
                description=description,
                plugin=plugin_name,
                weights=None if weights is None else str(Path(weights).resolve()),
                base=base,
            )
        )

    staged_specs: dict[str, Callable[[Any], Any]] = {}

    def register_export_spec(backbone: str, extra_inputs: Callable[[Any], Any]) -> None:
        full = _namespaced(backbone, plugin_name)
        if not callable(extra_inputs):
            raise ConfigError(f"the export spec of {full!r} must be a function backbone -> extra inputs")
        if full in registry.export_specs or full in staged_specs:
            raise DuplicateComponentError(f"backbone {full!r} has two export specs (the second from plugin "
                                          f"{plugin_name!r}); only one plugin may declare its extra inputs")
        staged_specs[full] = extra_inputs

    staged_converters: dict[str, _Converter] = {}

    def register_converter(name: str, convert: Callable[..., Any] | str, *, description: str = "") -> None:
        full = _namespaced(name, plugin_name)
        _check_namespace("converter", full, plugin_name, extends)
        if isinstance(convert, str):
            module, _, attribute = convert.partition(":")
            if not all(part.isidentifier() for part in module.split(".")) or not attribute.isidentifier():
                raise ConfigError(f"converter {full!r}: {convert!r} is not a 'module:attribute' path")
        elif not callable(convert):
            raise ConfigError(f"converter {full!r}: {convert!r} is neither callable nor a 'module:attribute' path")
        if full in registry.converters or full in staged_converters:
            other = registry.converters[full].plugin if full in registry.converters else plugin_name
            raise DuplicateComponentError(f"converter {full!r} is registered twice: by plugin {other!r} and by "
                                          f"plugin {plugin_name!r}")
        staged_converters[full] = _Converter(full, convert, plugin_name, record.distribution, description)

    try:
        extends = _extends(record.plugin)
        for kind in KINDS:
            _call_impls(host, plugin_name, _HOOKS[kind], make_register(kind))
        _call_impls(host, plugin_name, "arkit_register_pipeline_presets", register_preset)
        _call_impls(host, plugin_name, "arkit_register_export_specs", register_export_spec)
        _call_impls(host, plugin_name, "arkit_register_converters", register_converter)
    except BaseException as exc:  # noqa: BLE001 - isolate the plugin (sys.exit() too), keep everything else
        if record.builtin or isinstance(exc, KeyboardInterrupt):
            raise
        host.fail(plugin_name, record.distribution, record.version, f"{type(exc).__name__}: {exc}", plugin=record.plugin)
        return
    for info in staged:
        registry.components[info.kind][info.name] = info
    for preset in staged_presets:
        registry.presets[preset.name] = preset
    registry.export_specs.update(staged_specs)
    registry.converters.update(staged_converters)


_LAZY_EXAMPLES: dict[tuple[Any, ...], LazyExamples] = {}


def _lazy_examples(build: Callable[[], Any], kind: str, name: str, plugin: str,
                   distribution: str | None) -> LazyExamples:
    """One :class:`LazyExamples` per registration, kept across registry rebuilds: the examples are built at most
    once, and a component's :class:`ComponentInfo` compares equal after a rebuild (as with tuple examples)."""
    key = (build, kind, name, plugin, distribution)
    if key not in _LAZY_EXAMPLES:
        _LAZY_EXAMPLES[key] = LazyExamples(build, kind=kind, name=name, plugin=plugin,  # type: ignore[arg-type]
                                           distribution=distribution)
    return _LAZY_EXAMPLES[key]


def _call_impls(host: PluginHost, plugin_name: str, hook_name: str, register: Callable[..., Any]) -> None:
    for impl in getattr(host.pm.hook, hook_name).get_hookimpls():
        if impl.plugin_name == plugin_name:
            impl.function(**{arg: register for arg in impl.argnames})


_registry: _Registry | None = None


def _get_registry() -> _Registry:
    global _registry
    host = get_host()
    if _registry is not None and _registry.host is host and _registry.generation == host.generation:
        return _registry
    if strict_mode():
        # a failure recorded earlier raises again on every access, for as long as the failed
        # plugin is there; the other plugins, in-process ones included, stay loaded
        failed = next((r for r in host.records.values() if r.error is not None), None)
        if failed is not None:
            raise PluginLoadError(failed.name, failed.distribution, failed.error or "")
    registry = _Registry({kind: {} for kind in KINDS}, {}, {}, host, host.generation)
    for name, record in list(host.records.items()):
        if record.error is None:
            # built-ins first (they were added first), then entry points in name order
            _collect_plugin(host, name, registry)
    registry.generation = host.generation  # failures above bump it; the result is still current
    _registry = registry
    return registry


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownComponentError("component kind", kind, KINDS)


def list_components(kind: Kind | None = None, pattern: str = "*") -> list[ComponentInfo]:
    """Registered components, sorted by kind then name.

    ``kind`` filters to one kind; ``pattern`` is a shell-style wildcard matched
    against the namespaced name (``"timeseries/*"``).
    """
    if kind is not None:
        _check_kind(kind)
    registry = _get_registry()
    kinds = [kind] if kind is not None else list(KINDS)
    return [
        info
        for k in kinds
        for name, info in sorted(registry.components[k].items())
        if fnmatch.fnmatchcase(name, pattern)
    ]


def get_component(kind: Kind, name: str) -> ComponentInfo:
    """Look up one component. A name without a namespace resolves when it is unambiguous.

    Raises :class:`arkit.UnknownComponentError` (a ``KeyError``) with close matches.
    """
    _check_kind(kind)
    table = _get_registry().components[kind]
    if name in table:
        return table[name]
    if isinstance(name, str) and "/" not in name:
        matches = [info for full, info in table.items() if full.split("/", 1)[1] == name]
        if len(matches) == 1:
            return matches[0]
    raise UnknownComponentError(kind, str(name), table)


def create(kind: Kind, name: str, /, **config: Any) -> Any:
    """Build a registered component: ``arkit.create("backbone", "core/transformer", n_layers=2)``.

    Checks the result against its protocol once, here.
    """
    info = get_component(kind, name)
    obj = _build(info, config)
    return obj


def _build(info: ComponentInfo, config: Mapping[str, Any]) -> Any:
    try:
        signature = inspect.signature(info.factory)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        try:
            signature.bind(**config)
        except TypeError as exc:
            accepted = [p for p in signature.parameters if p not in ("self", "args", "kwargs")]
            raise ConfigError(f"{info.kind} {info.name!r}: {exc}. It accepts: {', '.join(accepted)}") from None
    obj = info.factory(**config)
    check_conforms(info.kind, obj, what=f"{info.kind} {info.name!r} (from plugin {info.plugin!r})")
    try:
        setattr(obj, _COMPONENT_ATTR, (info.kind, info.name))
    except AttributeError:  # objects with __slots__: found by type on save instead
        pass
    return obj


def component_info(kind: Kind, obj: Any) -> ComponentInfo:
    """The registry entry ``obj`` was built from: by :func:`create`, or the component whose factory is its class.

    ``component_info("backbone", pipe.backbone).name`` is the name to rebuild it
    with. Raises :class:`arkit.UnknownComponentError` for an object no registered
    component made (an unregistered class, or a factory function's result built
    without :func:`create`).
    """
    _check_kind(kind)
    tag = getattr(obj, _COMPONENT_ATTR, None)
    if tag is not None and tag[0] == kind:
        return get_component(kind, tag[1])
    for info in _get_registry().components[kind].values():
        if made_by(info.factory, type(obj)):
            return info
    raise UnknownComponentError(
        kind, type(obj).__qualname__, _get_registry().components[kind]
    )


def declared_inputs(backbone: Any) -> tuple[ExtraInput, ...] | None:
    """The :class:`arkit.ExtraInput` s a backbone declares through its export spec (``arkit_register_export_specs``).

    ``None`` when the backbone is not a registered component or its component has
    no export spec. Raises :class:`arkit.ConfigError` when the spec returns
    anything but ``ExtraInput`` objects.
    """
    try:
        name = component_info("backbone", backbone).name
    except UnknownComponentError:
        return None
    spec = _get_registry().export_specs.get(name)
    if spec is None:
        return None
    declared = tuple(spec(backbone))
    for item in declared:
        if not isinstance(item, ExtraInput):
            raise ConfigError(f"the export spec of backbone {name!r} must return arkit.ExtraInput objects, "
                              f"got {type(item).__name__}")
    return declared


def _lazy_errors() -> dict[str, str]:
    """Plugin -> why a component it registered by import path does not import or conform, or why examples it
    gave as a function do not build (each is imported or built here)."""
    errors: dict[str, str] = {}
    for kind in KINDS:
        for info in _get_registry().components[kind].values():
            if info.plugin in errors:
                continue
            try:
                if isinstance(info.factory, LazyFactory):
                    info.factory.resolve()
                if isinstance(info.examples, LazyExamples):
                    len(info.examples)
            except PluginLoadError as exc:
                errors[info.plugin] = exc.reason
            except ComponentProtocolError as exc:
                errors[info.plugin] = str(exc)
    return errors


def example_errors() -> dict[str, str]:
    """Plugin -> why one of its components fails (``arkit plugins --check``).

    A component registered by import path is imported and checked against its
    protocol, examples given as a function are built, and each tokenizer with
    examples is built with its default config and encodes them (one that needs
    arguments, or whose defaults do not build, is left to the contract suite, which
    builds it with the author's config)."""
    errors = _lazy_errors()
    for info in _get_registry().components["tokenizer"].values():
        if info.plugin in errors or not info.examples:
            continue
        try:
            inspect.signature(info.factory).bind()
        except TypeError:
            continue  # needs arguments
        except ValueError:
            pass  # no signature to check: try to build it
        try:
            tokenizer = info.factory()
        except Exception:  # noqa: BLE001 - its defaults are not a working config: the contract suite checks it
            continue
        for example in info.examples:
            try:
                tokenizer.encode(example)
            except Exception as exc:  # noqa: BLE001 - report whatever the plugin's code raised
                errors[info.plugin] = (f"tokenizer {info.name!r} rejects its registered example {example!r}: "
                                       f"{type(exc).__name__}: {exc}")
                break
    return errors


def get_converter(name: str) -> Callable[..., Any]:
    """The converter a plugin registered as ``name`` (``arkit_register_converters``), imported on first use.

    ``get_converter("hf/llama")(backbone, head)`` is a ``transformers`` model with the
    weights of a ``core/transformer`` and its head, when arkit-hf is installed. Raises
    :class:`arkit.UnknownComponentError` when no installed plugin registers ``name``,
    and :class:`arkit.PluginLoadError` (naming the plugin) when its module fails to import.
    """
    table = _get_registry().converters
    entry = table.get(name) if isinstance(name, str) else None
    if entry is None:
        raise UnknownComponentError("converter", str(name), table)
    if isinstance(entry.convert, str):
        import importlib

        module, _, attribute = entry.convert.partition(":")
        try:
            convert = getattr(importlib.import_module(module), attribute)
        except Exception as exc:  # noqa: BLE001 - whatever the plugin's module raised, named with the plugin
            raise PluginLoadError(entry.plugin, entry.distribution, f"converter {name!r}: importing "
                                  f"{entry.convert!r} raised {type(exc).__name__}: {exc}") from None
        if not callable(convert):
            raise PluginLoadError(entry.plugin, entry.distribution, f"converter {name!r}: {entry.convert} "
                                  f"is not callable")
        entry.convert = convert
    return entry.convert


def list_presets(pattern: str = "*") -> list[PipelinePreset]:
    """Registered pipeline presets, sorted by name."""
    return [p for n, p in sorted(_get_registry().presets.items()) if fnmatch.fnmatchcase(n, pattern)]


def get_preset(name: str) -> PipelinePreset:
    """Look up a pipeline preset by name."""
    presets = _get_registry().presets
    if name in presets:
        return presets[name]
    matches = [p for full, p in presets.items() if "/" not in name and full.split("/", 1)[1] == name]
    if len(matches) == 1:
        return matches[0]
    raise UnknownComponentError("preset", name, presets)


def list_plugins() -> list[PluginInfo]:
    """Every plugin arkit found, working or failed, built-ins first."""
    registry = _get_registry()
    host = get_host()
    by_plugin: dict[str, list[str]] = {}
    for kind in KINDS:
        for info in registry.components[kind].values():
            by_plugin.setdefault(info.plugin, []).append(f"{kind}:{info.name}")
    presets: dict[str, list[str]] = {}
    for preset in registry.presets.values():
        presets.setdefault(preset.plugin, []).append(preset.name)
    records = sorted(host.records.values(), key=lambda r: (not r.builtin, r.name))
    return [
        PluginInfo(
            name=r.name,
            distribution=r.distribution,
            version=r.version,
            builtin=r.builtin,
            components=tuple(sorted(by_plugin.get(r.name, ()))),
            presets=tuple(sorted(presets.get(r.name, ()))),
            error=r.error,
        )
        for r in records
    ]
