"""arkit: autoregressive generation in any domain, from composable, swappable parts.

The public API is exactly the names in ``__all__``; everything else is private
and may change without notice (see docs/stability.md).
"""

from . import protocols
from ._corpus import tiny_corpus
from ._deprecation import deprecated
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
from .generation.continuous import generate_continuous
from .generation.next_scale import NextScaleSchedule, generate_next_scale
from .hookspecs import hookimpl
from .pipeline import Pipeline
from .constraints.state_machine import StateMachineConstraint
from .constraints.trie import TrieConstraint
from .protocols import AcceptanceRule, Backbone, Cache, Constraint, Drafter, Head, Sampler, Tokenizer
from .registry import create, get_component, get_preset, list_components, list_plugins, list_presets
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

__all__ = [
    "AcceptanceRule",
    "ArkitConfigWarning",
    "ArkitDeprecationWarning",
    "ArkitError",
    "ArkitPluginWarning",
    "ArkitWarning",
    "Backbone",
    "Cache",
    "CacheSpec",
    "CheckpointError",
    "ComponentInfo",
    "Conditioned",
    "ComponentProtocolError",
    "ConfigError",
    "Constraint",
    "ConstraintError",
    "Draft",
    "Drafter",
    "ExtraInput",
    "DuplicateComponentError",
    "ExportError",
    "GenerationConfig",
    "GenerationError",
    "GenerationEvent",
    "GenerationOutput",
    "Head",
    "InputError",
    "MissingPluginError",
    "NextScaleSchedule",
    "Pipeline",
    "PipelineFormatError",
    "PipelinePreset",
    "PluginInfo",
    "PluginLoadError",
    "Sampler",
    "SpeculativeStats",
    "StateMachineConstraint",
    "Tokenizer",
    "Verification",
    "TrainConfig",
    "TrainResult",
    "TrainingError",
    "TrieConstraint",
    "UnknownComponentError",
    "WeightsError",
    "__version__",
    "create",
    "deprecated",
    "generate_continuous",
    "generate_next_scale",
    "get_component",
    "get_preset",
    "hookimpl",
    "list_components",
    "list_plugins",
    "list_presets",
    "protocols",
    "tiny_corpus",
]
