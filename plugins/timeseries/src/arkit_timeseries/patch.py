"""Fixed-length patches of real values as vectors, for continuous heads.

Registered as ``timeseries/patch``. ``encode(series)`` cuts a series whose length
is a multiple of ``patch_length`` into consecutive patches, each a list of
``patch_length`` floats: the ``[T / P, P]`` vectors a continuous pipeline
(``core/transformer(input_dim=P)`` with ``core/gaussian-mixture(dim=P)``) reads,
as ``core/vectors`` does. ``vocab_size`` is 0: there are no ids.

Scaling works as in ``timeseries/mean-scale-bins``: ``encode_with_scale(series,
context_length=None) -> (patches, scale)`` and ``decode(patches, scale=...)``;
the plain calls use the identity scale, which makes ``decode(encode(x)) == x``
exact (the tokenizer is lossless). A series with NaN or a length that is not a
multiple of ``patch_length`` is rejected with :class:`arkit.InputError`: fill
gaps and drop the oldest ``len(x) % patch_length`` values first
(:meth:`PatchTokenizer.trim` does the latter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from arkit.errors import ConfigError, InputError

from .scaling import Scale, as_series, check_scaling, compute_scale

__all__ = ["PatchTokenizer"]


class PatchTokenizer:
    """``[T]`` series in (``T`` a multiple of ``patch_length``), ``[T / P]`` lists of ``P`` floats out."""

    lossless = True
    vocab_size = 0
    special_tokens: Mapping[str, int] = {}

    def __init__(self, *, patch_length: int = 8, scaling: str = "mean") -> None:
        if not isinstance(patch_length, int) or isinstance(patch_length, bool) or patch_length < 1:
            raise ConfigError(f"patch_length must be a positive integer, got {patch_length!r}")
        self.patch_length = patch_length
        self.scaling = check_scaling(scaling)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"patch_length": self.patch_length, "scaling": self.scaling}

    def trim(self, series: Any) -> np.ndarray:
        """``series`` without its oldest ``len % patch_length`` values (the latest are kept)."""
        values = as_series(series)
        return values[len(values) % self.patch_length:]

    def scale_of(self, series: Any) -> Scale:
        return compute_scale(as_series(series), self.scaling)

    def encode(self, item: Any, *, scale: Any = None) -> list[list[float]]:
        values = as_series(item, allow_nan=False)
        if len(values) % self.patch_length:
            raise InputError(
                f"the series has {len(values)} values, not a multiple of patch_length={self.patch_length}: "
                f"drop the oldest {len(values) % self.patch_length} (PatchTokenizer.trim)"
            )
        s = Scale.coerce(scale)
        scaled = values if s == Scale() else (values - s.loc) / s.scale
        return scaled.reshape(-1, self.patch_length).tolist()

    def encode_with_scale(self, item: Any, *, context_length: int | None = None) -> tuple[list[list[float]], Scale]:
        values = as_series(item, allow_nan=False)
        context = values if context_length is None else values[: max(int(context_length), 0)]
        scale = compute_scale(context, self.scaling)
        return self.encode(values, scale=scale), scale

    def decode(self, ids: Sequence[Any], *, scale: Any = None) -> list[float]:
        """The flat series of the patches, mapped back with ``scale``."""
        s = Scale.coerce(scale)
        values = np.asarray(list(ids), dtype=np.float64).reshape(-1)
        if s != Scale():
            values = s.loc + s.scale * values
        return values.tolist()
