"""Render arkit's stable surface as text: the names in ``arkit.__all__`` with their
signatures, the six protocols, the hook specs and the on-disk format version.

``python -m tests.api.surface > tests/api/public_api.txt`` regenerates the snapshot.
"""

from __future__ import annotations

import enum
import inspect
import typing

import attrs
import typing_extensions

import arkit
import arkit.onnx as arkit_onnx
import arkit.training as arkit_training
from arkit import _serialization, hookspecs, protocols


def _sig(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(...)"


def _class_lines(name: str, cls: type) -> list[str]:
    lines = [f"class {name}{'(' + ', '.join(b.__name__ for b in cls.__bases__ if b is not object) + ')' if cls.__bases__ != (object,) else ''}"]
    if attrs.has(cls):
        for field in attrs.fields(cls):
            default = "<factory>" if isinstance(field.default, attrs.Factory) else repr(field.default)  # type: ignore[arg-type]
            lines.append(f"    field {field.name}: {field.type} = {default}")
    if getattr(cls, "_is_protocol", False):
        for member in sorted(typing_extensions.get_protocol_members(cls)):
            value = inspect.getattr_static(cls, member, None)
            if inspect.isfunction(value):
                lines.append(f"    def {member}{_sig(value)}")
            elif isinstance(value, property):
                lines.append(f"    property {member}")
            else:
                declared = next((k.__dict__["__annotations__"][member] for k in cls.__mro__
                                 if member in k.__dict__.get("__annotations__", {})), "?")  # inherited ones too
                lines.append(f"    attribute {member}: {declared}")
        return lines
    if issubclass(cls, BaseException):
        return lines
    for member, value in sorted(vars(cls).items()):
        if member.startswith("_") and member != "__init__":
            continue
        if isinstance(value, (classmethod, staticmethod)):
            lines.append(f"    {type(value).__name__} {member}{_sig(value.__func__)}")
        elif inspect.isfunction(value):
            lines.append(f"    def {member}{_sig(value)}")
        elif isinstance(value, property):
            lines.append(f"    property {member}")
    return lines


def render() -> str:
    lines = [f"# arkit stable surface (pipeline format {_serialization.FORMAT_VERSION})", "", "## arkit.__all__"]
    for name in sorted(arkit.__all__):
        obj = getattr(arkit, name)
        if inspect.isclass(obj):
            lines += _class_lines(name, obj)
        elif inspect.ismodule(obj):
            lines.append(f"module {name}")
        elif callable(obj):
            lines.append(f"def {name}{_sig(obj)}")
        elif isinstance(obj, (str, int, tuple, enum.Enum)) or typing.get_origin(obj) is not None:
            lines.append(f"{name} = <{type(obj).__name__}>")
        else:
            lines.append(f"{name}: {type(obj).__name__}")
    lines += ["", "## arkit.onnx.__all__"]
    for name in sorted(arkit_onnx.__all__):
        obj = getattr(arkit_onnx, name)
        lines += _class_lines(name, obj) if inspect.isclass(obj) else [f"def {name}{_sig(obj)}"]
    lines += ["", "## arkit.training.__all__"]
    for name in sorted(arkit_training.__all__):
        lines.append(f"def {name}{_sig(getattr(arkit_training, name))}")
    lines += ["", "## arkit.protocols"]
    for name in sorted(protocols.__all__):
        lines += _class_lines(name, getattr(protocols, name))
    lines += ["", "## hook specs (group 'arkit')"]
    for name in sorted(n for n in dir(hookspecs) if n.startswith("arkit_")):
        func = getattr(hookspecs, name)
        opts = getattr(func, "arkit_spec", {})
        flags = ", ".join(f"{k}={v}" for k, v in sorted(opts.items()) if v) or "-"
        lines.append(f"hook {name}{_sig(func)}  [{flags}]")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
