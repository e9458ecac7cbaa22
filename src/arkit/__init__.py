"""arkit: autoregressive generation in any domain, from composable, swappable parts.

The public API is exactly the names in ``__all__``; everything else is private
and may change without notice (see docs/stability.md).

Importing arkit is cheap: the errors and the version load at once, every other
public name on first use (PEP 562), so ``import arkit`` and ``arkit --version``
do not import torch. ``from arkit import Pipeline`` works as usual.
"""

import importlib as _importlib
import importlib.util as _importlib_util
import typing as _typing

from ._version import __version__
from .errors import (
    ArkitConfigWarning,
    ArkitDeprecationWarning,
    ArkitError,
    ArkitPluginWarning,
    ArkitWarning,
    CheckpointError,
    ComponentProtocolError,
    ConfigError,
    ConstraintError,
    DuplicateComponentError,
    ExportError,
    GenerationError,
    InputError,
    MissingPluginError,
    PipelineFormatError,
    PluginLoadError,
    TrainingError,
    UnknownComponentError,
    WeightsError,
)

if _typing.TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from . import protocols
    from ._corpus import tiny_corpus
    from ._deprecation import deprecated
    from .generation.blocks import BlockOutput, BlockSchedule, generate_blocks
    from .generation.continuous import generate_continuous
    from .generation.next_scale import NextScaleSchedule, generate_next_scale
    from .hookspecs import hookimpl
    from .pipeline import Pipeline
    from .constraints.state_machine import StateMachineConstraint
    from .constraints.trie import TrieConstraint
    from .protocols import (
        AcceptanceRule,
        Backbone,
        Cache,
        Constraint,
        CostedDrafter,
        Drafter,
        EvictingCache,
        ExportableDraftHeads,
        FusedAttentionBackbone,
        Head,
        ObservingDrafter,
        PrecheckedBackbone,
        Sampler,
        SamplingDrafter,
        StatefulDrafter,
        Tokenizer,
        TreeAcceptanceRule,
        TreeDrafter,
    )
    from .registry import (
        component_info,
        create,
        declared_inputs,
        get_component,
        get_converter,
        get_preset,
        list_components,
        list_plugins,
        list_presets,
    )
    from .types import (
        CacheSpec,
        ComponentInfo,
        Conditioned,
        Draft,
        ExtraInput,
        GenerationConfig,
        GenerationEvent,
        GenerationOutput,
        PipelinePreset,
        PluginInfo,
        SpeculativeStats,
        TrainConfig,
        TrainResult,
        Verification,
    )

#: Public name -> the module (relative to this package) that defines it, imported on first access.
_LAZY: dict[str, str] = {
    name: module
    for module, names in {
        "._corpus": ("tiny_corpus",),
        "._deprecation": ("deprecated",),
        ".constraints.state_machine": ("StateMachineConstraint",),
        ".constraints.trie": ("TrieConstraint",),
        ".generation.blocks": ("BlockOutput", "BlockSchedule", "generate_blocks"),
        ".generation.continuous": ("generate_continuous",),
        ".generation.next_scale": ("NextScaleSchedule", "generate_next_scale"),
        ".hookspecs": ("hookimpl",),
        ".pipeline": ("Pipeline",),
        ".protocols": (
            "AcceptanceRule", "Backbone", "Cache", "Constraint", "CostedDrafter", "Drafter", "EvictingCache", "ExportableDraftHeads",
            "FusedAttentionBackbone", "Head", "ObservingDrafter", "PrecheckedBackbone", "Sampler", "SamplingDrafter",
            "StatefulDrafter", "Tokenizer", "TreeAcceptanceRule", "TreeDrafter", "protocols",
        ),
        ".registry": ("component_info", "create", "declared_inputs", "get_component", "get_converter", "get_preset",
                      "list_components", "list_plugins", "list_presets"),
        ".types": (
            "CacheSpec", "ComponentInfo", "Conditioned", "Draft", "ExtraInput", "GenerationConfig",
            "GenerationEvent", "GenerationOutput", "PipelinePreset", "PluginInfo", "SpeculativeStats",
            "TrainConfig", "TrainResult", "Verification",
        ),
    }.items()
    for name in names
}


def __getattr__(name: str) -> _typing.Any:
    """Import a public name (or a submodule, as ``arkit.onnx``) the first time it is used."""
    module = _LAZY.get(name)
    if module is not None:
        if module == f".{name}":  # a submodule exported by name (arkit.protocols)
            value = _importlib.import_module(module, __name__)
        else:
            value = getattr(_importlib.import_module(module, __name__), name)
    elif not name.startswith("__") and _importlib_util.find_spec(f"{__name__}.{name}") is not None:
        value = _importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AcceptanceRule",
    "ArkitConfigWarning",
    "ArkitDeprecationWarning",
    "ArkitError",
    "ArkitPluginWarning",
    "ArkitWarning",
    "Backbone",
    "BlockOutput",
    "BlockSchedule",
    "Cache",
    "CacheSpec",
    "CheckpointError",
    "ComponentInfo",
    "ComponentProtocolError",
    "Conditioned",
    "ConfigError",
    "Constraint",
    "ConstraintError",
    "CostedDrafter",
    "Draft",
    "Drafter",
    "DuplicateComponentError",
    "EvictingCache",
    "ExportError",
    "ExportableDraftHeads",
    "ExtraInput",
    "FusedAttentionBackbone",
    "GenerationConfig",
    "GenerationError",
    "GenerationEvent",
    "GenerationOutput",
    "Head",
    "InputError",
    "MissingPluginError",
    "NextScaleSchedule",
    "ObservingDrafter",
    "Pipeline",
    "PipelineFormatError",
    "PipelinePreset",
    "PluginInfo",
    "PluginLoadError",
    "PrecheckedBackbone",
    "Sampler",
    "SamplingDrafter",
    "SpeculativeStats",
    "StateMachineConstraint",
    "StatefulDrafter",
    "Tokenizer",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TreeAcceptanceRule",
    "TreeDrafter",
    "TrieConstraint",
    "UnknownComponentError",
    "Verification",
    "WeightsError",
    "__version__",
    "component_info",
    "create",
    "declared_inputs",
    "deprecated",
    "generate_blocks",
    "generate_continuous",
    "generate_next_scale",
    "get_component",
    "get_converter",
    "get_preset",
    "hookimpl",
    "list_components",
    "list_plugins",
    "list_presets",
    "protocols",
    "tiny_corpus",
]
