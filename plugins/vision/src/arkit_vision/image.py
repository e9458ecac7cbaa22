"""``Image``: what the vision tokenizers encode and decode (pixels and an optional class label)."""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np

import arkit

__all__ = ["Image", "as_pixels"]


def _frozen_array(value: Any) -> np.ndarray:
    array = np.array(value, copy=True)
    array.setflags(write=False)
    return array


@attrs.frozen(eq=False)
class Image:
    """An image as integer pixels ``[H, W]`` (grey) or ``[H, W, C]``, with an optional class label.

    Equality compares label, shape and every pixel, so decoded images can be checked with
    ``==``; ``np.asarray(image)`` gives the pixels.
    """

    pixels: np.ndarray = attrs.field(converter=_frozen_array)
    label: int | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Image):
            return NotImplemented
        return (self.label == other.label and self.pixels.shape == other.pixels.shape
                and bool(np.array_equal(self.pixels, other.pixels)))

    def __hash__(self) -> int:
        return hash((self.label, self.pixels.shape, self.pixels.tobytes()))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self.pixels.astype(dtype) if dtype is not None else self.pixels.copy()


def as_pixels(item: Any, *, height: int, width: int, channels: int, max_value: int) -> np.ndarray:
    """The pixels of an :class:`Image` or array as ``int64 [H, W, C]``, checked; :class:`arkit.InputError` otherwise."""
    pixels = item.pixels if isinstance(item, Image) else item
    if not isinstance(pixels, np.ndarray):
        raise arkit.InputError(f"expected an arkit_vision.Image or a numpy array of pixels, got {type(item).__name__}")
    if not (np.issubdtype(pixels.dtype, np.integer) or pixels.dtype == np.bool_):
        raise arkit.InputError(
            f"pixels must be integers in [0, {max_value}], got dtype {pixels.dtype}: convert first, e.g. "
            f"np.rint(x * {max_value}).astype(np.uint8) for values in [0, 1]"
        )
    expected = (height, width) if channels == 1 else (height, width, channels)
    if pixels.ndim == 2 and channels == 1:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape != (height, width, channels):
        raise arkit.InputError(f"expected an image of shape {expected} (height, width{', channels' if channels > 1 else ''}), "
                               f"got {tuple(pixels.shape)}")
    low, high = int(pixels.min()), int(pixels.max())
    if low < 0 or high > max_value:
        raise arkit.InputError(f"pixel values must lie in [0, {max_value}], got values in [{low}, {high}]")
    return pixels.astype(np.int64)
