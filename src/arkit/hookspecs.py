"""The hooks a plugin implements to add components to arkit.

A plugin is a module (or any object) with functions named after these specs and
decorated with :data:`arkit.hookimpl`, exposed through an entry point in the
``arkit`` group::

    [project.entry-points.arkit]
    mydomain = "arkit_mydomain.plugin"

Every ``register`` callback has the signature ``register(name, factory, *,
description="", examples=())``. ``name`` is ``"domain/name"``, where ``domain``
is the plugin's entry-point name (its namespace); a name without a ``/`` is put
under it, and a name in another namespace fails the plugin unless its module
declares ``arkit_extends = ["other"]``. ``factory(**config)`` builds the
component; a tokenizer's ``examples`` are items it must encode (the contract
suite and ``arkit plugins --check`` check them). arkit knows which plugin called ``register``: it binds the
plugin's name into the callback, so a duplicate name is reported with both
plugins. A plugin may implement any subset of the hooks; each hook is called
once per plugin, the first time the registry is used.

``factory`` may be an import path, ``"arkit_mydomain.tokenizer:MyTokenizer"``:
the module is then imported when the component is first built, so that listing
components (``arkit plugins``, ``arkit components``) does not import it or torch;
give ``description`` then (no docstring is read), and ``examples`` as a function
returning them when building them needs heavy imports.

Compatibility: hooks only gain optional behaviour. Implementations may accept
fewer arguments than a spec (pluggy's opt-in arguments).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
import os
from typing import Any, Protocol

import pluggy

__all__ = [
    "CommandRegister",
    "ComponentRegister",
    "ConverterRegister",
    "ExportSpecRegister",
    "PresetRegister",
    "arkit_register_acceptances",
    "arkit_register_backbones",
    "arkit_register_caches",
    "arkit_register_commands",
    "arkit_register_constraints",
    "arkit_register_converters",
    "arkit_register_drafters",
    "arkit_register_export_specs",
    "arkit_register_heads",
    "arkit_register_pipeline_presets",
    "arkit_register_samplers",
    "arkit_register_tokenizers",
    "hookimpl",
    "hookspec",
]

hookspec = pluggy.HookspecMarker("arkit")


class ComponentRegister(Protocol):
    """The ``register`` callback the component hooks receive."""

    def __call__(
        self, name: str, factory: Callable[..., Any] | str, *, description: str = "",
        examples: Sequence[Any] | Callable[[], Sequence[Any]] = (),
    ) -> None: ...


class PresetRegister(Protocol):
    """The ``register`` callback :func:`arkit_register_pipeline_presets` receives."""

    def __call__(
        self, name: str, components: Mapping[str, tuple[str, Mapping[str, Any]]], *, description: str = "",
        weights: str | os.PathLike[str] | None = None, base: str | None = None,
    ) -> None: ...


class ExportSpecRegister(Protocol):
    """The ``register`` callback :func:`arkit_register_export_specs` receives."""

    def __call__(self, backbone: str, extra_inputs: Callable[[Any], Sequence[Any]]) -> None: ...


class ConverterRegister(Protocol):
    """The ``register`` callback :func:`arkit_register_converters` receives."""

    def __call__(self, name: str, convert: Callable[..., Any] | str, *, description: str = "") -> None: ...


class CommandRegister(Protocol):
    """The ``register`` callback :func:`arkit_register_commands` receives."""

    def __call__(
        self,
        name: str,
        run: Callable[[argparse.Namespace], int | None] | str,
        *,
        help: str = "",
        arguments: Callable[[argparse.ArgumentParser], None] | str | None = None,
    ) -> None: ...

#: Decorator marking a plugin's hook implementations (re-exported as ``arkit.hookimpl``).
hookimpl = pluggy.HookimplMarker("arkit")


@hookspec
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Tokenizer` factories.

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_backbones(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Backbone` factories (``nn.Module`` classes).

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_heads(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Head` factories (``nn.Module`` classes).

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_samplers(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Sampler` factories.

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_drafters(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Drafter` factories.

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_acceptances(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.AcceptanceRule` factories (speculative decoding).

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_caches(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Cache` factories.

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_constraints(register: ComponentRegister) -> None:
    """Register :class:`~arkit.protocols.Constraint` factories (which tokens a row may produce next).

    A registered constraint can be listed (``arkit components --kind constraint``),
    built by name (``arkit.create("constraint", "mydomain/valence", ...)``), held by a
    pipeline (``Pipeline(..., constraint=...)``, used by ``generate`` and ``stream``
    when no ``constraint=`` argument is given) and saved with it in ``pipeline.json``.
    For that its ``config`` must be JSON and rebuild an equivalent constraint, like any
    component's. Check it with :class:`arkit.testing.ConstraintContract`::

        @arkit.hookimpl
        def arkit_register_constraints(register):
            register("mydomain/balanced", BalancedBrackets)

    .. versionadded:: 0.2.0
    """


@hookspec
def arkit_register_pipeline_presets(register: PresetRegister) -> None:
    """Register named pipelines: ``register(name, components, *, description="", weights=None, base=None)``.

    ``components`` maps roles (``"tokenizer"``, ``"backbone"``, ``"head"``,
    ``"sampler"``, ``"cache"``, optionally ``"drafter"``, ``"acceptance"`` and
    ``"constraint"``) to ``(component_name, config)`` pairs. :meth:`arkit.Pipeline.from_preset` builds them.
    ``weights`` names a folder written by :meth:`arkit.Pipeline.save_pretrained` (shipped
    inside the plugin's package) whose trained weights ``from_preset`` loads into the
    preset's modules, unless called with ``pretrained=False``. ``base`` names another
    preset (of any plugin) that this one extends: its components and weights come first, and
    ``components`` and ``weights`` need only hold what this preset adds or replaces, such as
    a drafter trained for a shipped model.

    .. versionchanged:: 0.2.0 ``weights``, ``base``.

    .. versionadded:: 0.1.0
    """


@hookspec
def arkit_register_export_specs(register: ExportSpecRegister) -> None:
    """Declare the extra inputs of backbones: ``register(backbone_name, extra_inputs)``.

    ``extra_inputs(backbone)`` returns the :class:`arkit.ExtraInput` s a built backbone
    takes besides ids, positions, cache and mask (none is fine: an empty tuple), for
    example a conditioning vector when its config asks for one. The generation loops
    pass them to every backbone call (``generate(..., extra_inputs={name: tensor})``)
    and :func:`arkit.onnx.export` makes each an input of the step graph, so a plugin
    writes no exporter code. A backbone whose ``forward`` requires a keyword that no
    spec declares cannot be exported (:class:`arkit.ExportError`).

    .. versionadded:: 0.2.0
    """


@hookspec
def arkit_register_converters(register: ConverterRegister) -> None:
    """Register converters to other libraries' models: ``register(name, convert, *, description="")``.

    ``convert`` is a function (or ``"module:attribute"``, imported on first use) that
    turns arkit components into another library's objects; ``name`` is namespaced like a
    component's. :func:`arkit.get_converter` looks one up by name, so arkit's
    own code (the benchmarks' comparisons with transformers use ``hf/llama`` and
    ``hf/llama-folder``, which arkit-hf registers) never imports a plugin.

    .. versionadded:: 0.3.0
    """


@hookspec
def arkit_register_commands(register: CommandRegister) -> None:
    """Add subcommands to the ``arkit`` command line.

    ``register(name, run, *, help="", arguments=None)``: ``arguments(parser)``
    adds options to an :class:`argparse.ArgumentParser`; ``run(args)`` executes
    the command and returns an exit code (``None`` means 0). Names must not
    clash with built-in commands. ``run`` and ``arguments`` may be given as
    import paths, ``"arkit_mydomain.cli:run"``: the module is then imported only
    when the command is used, so ``arkit --help`` stays quick.

    .. versionadded:: 0.1.0

    .. versionchanged:: 0.2.0
       ``run`` and ``arguments`` may be import paths.
    """
