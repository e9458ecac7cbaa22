"""``vision/pixels``: one token per pixel value (intensity level), raster order. Lossless."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

import arkit

from ._layout import _Layout
from .image import Image, as_pixels

__all__ = ["PixelTokenizer"]


class PixelTokenizer:
    """Pixels as ids: value ``v`` of channel ``c`` is id ``c * levels + v``, raster order, channels innermost.

    For scikit-learn's digits (8 x 8, values 0..16): ``levels=17``, 64 content ids per image.
    With ``num_classes > 0`` an :class:`Image` with a label encodes as ``[class] + pixels``.
    """

    lossless = True

    def __init__(self, *, height: int = 8, width: int = 8, channels: int = 1, levels: int = 17,
                 num_classes: int = 10) -> None:
        for key, value in (("height", height), ("width", width), ("channels", channels), ("levels", levels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise arkit.ConfigError(f"pixel tokenizer {key} must be a positive integer, got {value!r}")
        if levels < 2:
            raise arkit.ConfigError(f"pixel tokenizer levels must be at least 2, got {levels}")
        self.height, self.width, self.channels, self.levels = height, width, channels, levels
        self._layout = _Layout(levels * channels, num_classes)
        self.num_classes = num_classes
        self.vocab_size = self._layout.vocab_size
        self.special_tokens = dict(self._layout.special_tokens)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"height": self.height, "width": self.width, "channels": self.channels, "levels": self.levels,
                "num_classes": self.num_classes}

    @property
    def num_content_tokens(self) -> int:
        """Content ids per image (``height * width * channels``)."""
        return self.height * self.width * self.channels

    def encode(self, item: Any) -> list[int]:
        prefix = self._layout.prefix(item)
        if prefix is not None and not isinstance(item, Image):
            return prefix
        pixels = as_pixels(item, height=self.height, width=self.width, channels=self.channels, max_value=self.levels - 1)
        ids = (pixels + np.arange(self.channels) * self.levels).reshape(-1)
        return (prefix or []) + ids.tolist()

    def decode(self, ids: Sequence[int]) -> Image:
        """An :class:`Image`; missing pixels are 0, extra ones dropped, and an id of the wrong channel keeps its level."""
        label, content = self._layout.split(ids)
        values = np.zeros(self.num_content_tokens, dtype=np.int64)
        n = min(len(content), values.size)
        values[:n] = np.asarray(content[:n], dtype=np.int64) % self.levels
        shape = (self.height, self.width) if self.channels == 1 else (self.height, self.width, self.channels)
        return Image(values.reshape(shape).astype(np.uint8), label=label)

    def neighbours(self, k: int = 2) -> list[list[int]]:
        """For each id, the ``k`` nearest intensity levels of the same channel, closest first (LANTERN's latent neighbourhoods)."""
        table: list[list[int]] = []
        for i in range(self.vocab_size):
            if i >= self._layout.content:
                table.append([])
                continue
            c, v = divmod(i, self.levels)
            near = sorted((u for u in range(self.levels) if u != v), key=lambda u: (abs(u - v), u))[:k]
            table.append([c * self.levels + u for u in near])
        return table
