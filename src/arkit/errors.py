"""The exceptions arkit raises.

Every error a user can cause derives from :class:`ArkitError` and says what was
wrong and what to do about it. Lookup failures also derive from ``KeyError`` and
shape/value problems from ``ValueError``, so code written against the builtin
exceptions keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
import difflib

__all__ = [
    "ArkitConfigWarning",
    "ArkitDeprecationWarning",
    "ArkitError",
    "ArkitPluginWarning",
    "ArkitWarning",
    "CheckpointError",
    "ComponentProtocolError",
    "ConfigError",
    "ConstraintError",
    "DuplicateComponentError",
    "ExportError",
    "GenerationError",
    "InputError",
    "MissingPluginError",
    "PipelineFormatError",
    "PluginLoadError",
    "TrainingError",
    "UnknownComponentError",
    "WeightsError",
]


class ArkitError(Exception):
    """Base class of every error arkit raises on purpose."""


class PluginLoadError(ArkitError):
    """A plugin failed to import or to register its components.

    Raised only in strict mode (``ARKIT_STRICT_PLUGINS=1``); otherwise the failure
    is recorded, warned about and listed by ``arkit plugins``.
    """

    def __init__(self, plugin: str, distribution: str | None, reason: str) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.reason = reason
        dist = f" (distribution {distribution})" if distribution else ""
        super().__init__(
            f"plugin {plugin!r}{dist} failed to load: {reason}. "
            f"Upgrade or uninstall it, or block it with ARKIT_DISABLE_PLUGINS={plugin}."
        )


class ComponentProtocolError(ArkitError, TypeError):
    """A registered or created object does not satisfy its protocol."""


class DuplicateComponentError(ArkitError, ValueError):
    """Two plugins registered the same component name."""


class UnknownComponentError(ArkitError, KeyError):
    """A component or preset name is not in the registry."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.kind = kind
        self.name = name
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        # also match on the part after the namespace: "byte" -> "core/byte"
        close += [k for k in known if k.split("/", 1)[-1] == name and k not in close]
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        listing = "arkit components" if kind != "preset" else "arkit presets"
        message = f"unknown {kind} {name!r}.{hint} Run `{listing}` to see what is installed."
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class MissingPluginError(UnknownComponentError):
    """A saved pipeline names a component whose plugin is not installed."""

    def __init__(self, kind: str, name: str, distribution: str | None, version: str | None, known: Iterable[str]) -> None:
        super().__init__(kind, name, known)
        self.distribution = distribution
        if distribution:
            spec = f"{distribution}>={version}" if version else distribution
            self.message = (
                f"{kind} {name!r} comes from the plugin distribution {distribution!r}, which is not "
                f"installed: run `pip install '{spec}'`."
            )
        self.args = (self.message,)


class ConfigError(ArkitError, ValueError):
    """A component or generation configuration value is invalid."""


class InputError(ArkitError, ValueError):
    """Data given to a component or pipeline has the wrong type, shape or range."""


class GenerationError(ArkitError, RuntimeError):
    """Generation cannot go on (for example the logits became NaN)."""


class TrainingError(ArkitError, RuntimeError):
    """Training cannot go on (for example the loss became NaN)."""


class CheckpointError(TrainingError, ValueError):
    """A training checkpoint is corrupt, incomplete, or was written for a different architecture."""


class ConstraintError(GenerationError):
    """A constraint allows no token for a row that is not complete (a dead end)."""


class PipelineFormatError(ArkitError, ValueError):
    """A saved pipeline folder is malformed, from a future version, or incomplete."""


class ExportError(ArkitError, RuntimeError):
    """ONNX export or onnxruntime inference failed: names the component, file or dimension at fault."""


class WeightsError(PipelineFormatError):
    """A weights file is missing or does not fit the component's architecture."""


class ArkitWarning(UserWarning):
    """Base class of arkit's warnings."""


class ArkitPluginWarning(ArkitWarning):
    """A plugin failed to load; arkit goes on without it."""


class ArkitConfigWarning(ArkitWarning):
    """A saved config had keys the component does not accept; they were ignored."""


class ArkitDeprecationWarning(ArkitWarning, DeprecationWarning):
    """A feature is deprecated and will be removed in a future major release."""
