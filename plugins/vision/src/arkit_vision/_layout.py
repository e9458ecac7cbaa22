"""The id layout every vision tokenizer shares: content ids, then class ids, then special ids.

    [0, content)                      pixel levels or codebook entries
    [content, content + classes)      one id per class label (the prompt of class-conditional models)
    content + classes                 "null": no class (the unconditional prompt for guidance)
    then "bos", "eos", "pad"

Encoding: an :class:`~arkit_vision.Image` gives ``[class or null] + content`` (no class id when
the tokenizer has no classes); a bare array gives the content only; an ``int`` gives its class
id alone and ``None`` the null id (prompts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import arkit

from .image import Image


class _Layout:
    def __init__(self, content: int, num_classes: int) -> None:
        if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
            raise arkit.ConfigError(f"num_classes must be an integer >= 0, got {num_classes!r}")
        self.content, self.num_classes = content, num_classes
        extra = num_classes + 1 if num_classes else 0
        specials = ["null"] if num_classes else []
        self.special_tokens = {name: content + num_classes + i for i, name in enumerate([*specials, "bos", "eos", "pad"])}
        self.vocab_size = content + extra + 3

    def class_id(self, label: Any) -> int:
        if label is None:
            if not self.num_classes:
                raise arkit.InputError("this tokenizer has no classes (num_classes=0): give images without labels")
            return self.special_tokens["null"]
        if isinstance(label, (bool, np.bool_)) or not isinstance(label, (int, np.integer)):
            raise arkit.InputError(f"a class label must be an int, got {type(label).__name__}")
        if not 0 <= int(label) < self.num_classes:
            raise arkit.InputError(f"class label {int(label)} is out of range: this tokenizer has classes 0..{self.num_classes - 1}"
                                   if self.num_classes else "this tokenizer has no classes (num_classes=0)")
        return self.content + int(label)

    def prefix(self, item: Any) -> list[int] | None:
        """The ids of a prompt item (``int`` / ``None``), the class prefix of an Image, or None for a bare array."""
        if item is None or isinstance(item, (int, np.integer)) and not isinstance(item, (bool, np.bool_)):
            return [self.class_id(item)]
        if isinstance(item, Image):
            return [self.class_id(item.label)] if self.num_classes or item.label is not None else []
        return None

    def split(self, ids: Sequence[int]) -> tuple[int | None, list[int]]:
        """The first class label among ``ids`` (or None) and the content ids in order; specials are skipped."""
        label, content = None, []
        for i in ids:
            i = int(i)
            if 0 <= i < self.content:
                content.append(i)
            elif label is None and self.content <= i < self.content + self.num_classes:
                label = i - self.content
        return label, content
