"""Whether a component or its factory fits its kind's protocol: what the registry checks at registration and on
``create``, and what :mod:`arkit._lazy` checks when it imports a factory registered by path.

Below both of them (``registry`` imports ``_lazy``, and both import this module), so the two share the checks
without importing each other. ``arkit.protocols`` (and torch with it) is imported on the first lookup of
``PROTOCOLS``, not when this module loads.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
import inspect
from typing import Any

from .errors import ComponentProtocolError

__all__ = ["PROTOCOLS", "check_conforms", "check_factory"]

_PROTOCOL_NAMES: dict[str, str] = {
    "tokenizer": "Tokenizer",
    "backbone": "Backbone",
    "head": "Head",
    "sampler": "Sampler",
    "drafter": "Drafter",
    "acceptance": "AcceptanceRule",
    "cache": "Cache",
    "constraint": "Constraint",
}


class _Protocols(Mapping[str, type]):
    """Kind -> protocol class. ``arkit.protocols`` (and torch with it) is imported on the first lookup, not when
    the registry loads, so that listing plugins and components imports no torch."""

    def __getitem__(self, kind: str) -> type:
        from . import protocols

        return getattr(protocols, _PROTOCOL_NAMES[kind])  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        return iter(_PROTOCOL_NAMES)

    def __len__(self) -> int:
        return len(_PROTOCOL_NAMES)


PROTOCOLS: Mapping[str, type] = _Protocols()


def _protocol_methods(protocol: type) -> list[str]:
    """Members of a protocol that are plain methods (checkable on a class)."""
    return sorted(
        name
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("_")
    )


def _protocol_members(protocol: type) -> list[str]:
    names = set(getattr(protocol, "__protocol_attrs__", ()))
    names |= set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if not n.startswith("_") and (inspect.isfunction(v) or isinstance(v, property))}
    return sorted(n for n in names if not n.startswith("_"))


def check_conforms(kind: str, obj: Any, *, what: str) -> None:
    """Raise :class:`ComponentProtocolError` unless ``obj`` satisfies ``kind``'s protocol."""
    protocol = PROTOCOLS[kind]
    if isinstance(obj, protocol):
        return
    missing = [m for m in _protocol_members(protocol) if not hasattr(obj, m)]
    raise ComponentProtocolError(
        f"{what} is not a {kind}: it lacks {', '.join(missing) or 'required members'} of the "
        f"arkit.protocols.{protocol.__name__} protocol. See `help(arkit.protocols.{protocol.__name__})`."
    )


def check_factory(kind: str, name: str, factory: Any) -> None:
    """Raise :class:`ComponentProtocolError` unless ``factory`` can build a ``kind``: callable, and a class has the
    protocol's methods (checked at registration, before anything is built)."""
    if not callable(factory):
        raise ComponentProtocolError(f"{kind} {name!r}: factory {factory!r} is not callable")
    if inspect.isclass(factory):
        missing = [m for m in _protocol_methods(PROTOCOLS[kind]) if not callable(getattr(factory, m, None))]
        if missing:
            raise ComponentProtocolError(
                f"{kind} {name!r}: class {factory.__qualname__} lacks method(s) {', '.join(missing)} "
                f"required by arkit.protocols.{PROTOCOLS[kind].__name__}"
            )
