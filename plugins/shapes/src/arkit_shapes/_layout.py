"""The id layout the shape tokenizers share.

    [0, content)                          the tokenizer's own ids (coordinates, vertex indices, occupancy masks...)
    then its named markers                ("face", "vertices_end" for shapes/polygen: structure, not specials)
    then one id per class label           (the prompt of class-conditional models)
    "null"                                no class: the unconditional prompt, for guidance
    "bos", "eos", "pad"

A labelled shape encodes as ``[class] + content``; an unlabelled one as ``[null] + content``
when the tokenizer has classes. An ``int`` encodes as its class id alone, ``None`` as null:
those are the prompts of conditioned and unconditioned sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import arkit


def _positive(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise arkit.ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class _Layout:
    def __init__(self, content: int, markers: Sequence[str], num_classes: int) -> None:
        self.content = content
        self.num_classes = _positive("num_classes", num_classes, 0)
        self.markers = {name: content + i for i, name in enumerate(markers)}
        self.class_base = content + len(markers)
        names = [*markers, *(["null"] if num_classes else []), "bos", "eos", "pad"]
        first = self.class_base + num_classes
        self.special_tokens = {n: first + i for i, n in enumerate(names[len(markers):])}
        self.vocab_size = first + len(names) - len(markers)

    def class_id(self, label: Any) -> int:
        if label is None:
            if not self.num_classes:
                raise arkit.InputError("this tokenizer has no classes (num_classes=0): give shapes without labels")
            return self.special_tokens["null"]
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
            raise arkit.InputError(f"a class label must be an int, got {type(label).__name__}")
        if not 0 <= int(label) < self.num_classes:
            raise arkit.InputError(f"unknown class label {int(label)}: this tokenizer has classes 0..{self.num_classes - 1}"
                                   if self.num_classes else "this tokenizer has no classes (num_classes=0)")
        return self.class_base + int(label)

    def prefix(self, label: Any) -> list[int]:
        return [self.class_id(label)] if self.num_classes or label is not None else []

    def is_prompt(self, item: Any) -> bool:
        return item is None or isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_))

    def split(self, ids: Sequence[int]) -> tuple[int | None, list[int]]:
        """The first class label among ``ids`` (or None) and the content and marker ids in order; special ids
        (null, bos, eos, pad) are skipped wherever they are."""
        label, rest = None, []
        for i in ids:
            i = int(i)
            if 0 <= i < self.class_base:
                rest.append(i)
            elif label is None and self.class_base <= i < self.class_base + self.num_classes:
                label = i - self.class_base
        return label, rest
