"""Chronos-style tokenizer: scale each series, then quantize into uniform bins.

Registered as ``timeseries/mean-scale-bins``. Vocabulary layout::

    0 pad    1 eos    2 missing (NaN)    3 ... 3 + bins - 1   bin ids

Bins split ``[low, high]`` into ``bins`` equal intervals of width ``w = (high -
low) / bins``; a scaled value maps to the bin that contains it (values outside
the limits go to the first or last bin) and decodes to that bin's centre. For a
value whose scaled form lies within the limits, ``|decode - x| <= w / 2 * scale``.

The scale (see :mod:`arkit_timeseries.scaling`) belongs to the series, not to the
tokenizer, so it travels next to the ids:

- ``encode_with_scale(series, context_length=None) -> (ids, scale)`` computes the
  scale from the first ``context_length`` values (all by default) and encodes
  the whole series with it; ``decode(ids, scale=scale)`` maps ids back.
- ``encode(series, scale=None)`` and ``decode(ids, scale=None)`` use the given
  scale, and the identity ``Scale(0, 1)`` when none is given. So the plain
  protocol calls (which the generic ``Pipeline.generate``/``fit`` and the contract
  suite make) bin raw values: right only for series already scaled.

What the generation loop needs: it works on ids only. A forecaster calls
``ids, s = tok.encode_with_scale(context)``, runs the loop on ``ids``, and decodes
the generated ids with ``tok.decode(new_ids, scale=s)`` (the context's scale,
since the future is unknown). Training windows do the same with
``context_length`` set to the context part, so the target is scaled as the
model will see it at forecast time. ``missing`` is not a special token: it is a
value (NaN), which ``decode`` returns, whereas the protocol's special tokens
(``pad``, ``eos``) are skipped by ``decode``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import math
from typing import Any

import numpy as np

from arkit.errors import ConfigError

from .scaling import Scale, as_series, check_scaling, compute_scale

__all__ = ["MeanScaleBinsTokenizer"]


class MeanScaleBinsTokenizer:
    """Series of floats (NaN allowed) in, ids out; ``decode`` gives floats (``math.nan`` for missing)."""

    lossless = False
    PAD, EOS, MISSING = 0, 1, 2
    N_SPECIAL = 3

    def __init__(self, *, bins: int = 4094, low: float = -15.0, high: float = 15.0, scaling: str = "mean") -> None:
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
            raise ConfigError(f"bins must be a positive integer, got {bins!r}")
        if not (isinstance(low, (int, float)) and isinstance(high, (int, float)) and math.isfinite(low)
                and math.isfinite(high) and low < high) or isinstance(low, bool) or isinstance(high, bool):
            raise ConfigError(f"need finite numbers low < high, got low={low!r}, high={high!r}")
        self.bins, self.low, self.high = bins, float(low), float(high)
        self.scaling = check_scaling(scaling)
        self.width = (self.high - self.low) / bins
        self.centres = self.low + (np.arange(bins, dtype=np.float64) + 0.5) * self.width
        self.vocab_size = self.N_SPECIAL + bins
        self.special_tokens: Mapping[str, int] = {"pad": self.PAD, "eos": self.EOS}
        self.missing_id = self.MISSING

    @property
    def config(self) -> Mapping[str, Any]:
        return {"bins": self.bins, "low": self.low, "high": self.high, "scaling": self.scaling}

    def scale_of(self, series: Any) -> Scale:
        """The :class:`Scale` this tokenizer's ``scaling`` gives ``series`` (NaNs ignored)."""
        return compute_scale(as_series(series), self.scaling)

    def encode(self, item: Any, *, scale: Any = None) -> list[int]:
        """Ids of ``item`` scaled by ``scale`` (identity when ``None``); NaN becomes ``missing_id``."""
        values = as_series(item)
        s = Scale.coerce(scale)
        scaled = (values - s.loc) / s.scale
        index = np.clip(np.floor((scaled - self.low) / self.width), 0, self.bins - 1)
        ids = np.where(np.isnan(values), self.MISSING, np.nan_to_num(index) + self.N_SPECIAL)
        return ids.astype(np.int64).tolist()

    def encode_with_scale(self, item: Any, *, context_length: int | None = None) -> tuple[list[int], Scale]:
        """``(ids, scale)``: the scale from the first ``context_length`` values (all when ``None``)."""
        values = as_series(item)
        context = values if context_length is None else values[: max(int(context_length), 0)]
        scale = compute_scale(context, self.scaling)
        return self.encode(values, scale=scale), scale

    def decode(self, ids: Sequence[int], *, scale: Any = None) -> list[float]:
        """Bin centres mapped back with ``scale``; ``missing_id`` gives ``math.nan``; specials are skipped."""
        s = Scale.coerce(scale)
        out: list[float] = []
        for raw in ids:
            i = int(raw)
            if i == self.MISSING:
                out.append(math.nan)  # the one NaN object, so that decoded lists compare equal
            elif self.N_SPECIAL <= i < self.vocab_size:
                out.append(float(s.loc + s.scale * self.centres[i - self.N_SPECIAL]))
        return out

    def decode_array(self, ids: Any, *, scale: Any = None) -> np.ndarray:
        """Vectorised :meth:`decode` for a ``[..., T]`` array of value ids (no specials but ``missing``)."""
        s = Scale.coerce(scale)
        ids = np.asarray(ids, dtype=np.int64)
        values = s.loc + s.scale * self.centres[np.clip(ids - self.N_SPECIAL, 0, self.bins - 1)]
        return np.where(ids == self.MISSING, np.nan, values)
