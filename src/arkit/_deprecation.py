"""Deprecating parts of the public API, as the stability policy requires."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typing_extensions

from ._version import __version__
from .errors import ArkitDeprecationWarning

__all__ = ["deprecated"]

F = TypeVar("F", bound=Callable[..., Any])


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("+")[0].split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def deprecated(*, since: str, remove_in: str, instead: str | None = None) -> Callable[[F], F]:
    """Mark a function or class deprecated: calls warn with :class:`arkit.ArkitDeprecationWarning`.

    Static type checkers see it too (PEP 702). Once arkit's version reaches
    ``remove_in``, decorating raises, so a shim that outlived its release fails
    the test suite instead of lingering::

        @arkit.deprecated(since="0.2.0", remove_in="1.0.0", instead="arkit.create")
        def make(kind, name): ...
    """

    def decorate(obj: F) -> F:
        name = getattr(obj, "__qualname__", repr(obj))
        if _version_tuple(__version__) >= _version_tuple(remove_in):
            raise RuntimeError(
                f"{name} was deprecated in {since} for removal in {remove_in}; arkit is {__version__}: remove it"
            )
        message = f"{name} is deprecated since arkit {since} and will be removed in {remove_in}."
        if instead:
            message += f" Use {instead} instead."
        return typing_extensions.deprecated(message, category=ArkitDeprecationWarning, stacklevel=1)(obj)

    return decorate
