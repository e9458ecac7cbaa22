"""The evaluation split of the bundled series: a held-out tail per series, its length set by the frequency.

As in the Chronos benchmark, the forecast horizon follows the frequency: 13 for
weekly, 18 for monthly, 8 for quarterly, 6 for yearly and 48 (one day) for
half-hourly series; 24 when the frequency is unknown (heartrate). The last
``horizon`` values of a series are the held-out truth; everything before them is
the history a forecaster sees and the only part training may use.
"""

from __future__ import annotations

import attrs
import numpy as np

from . import datasets

__all__ = ["HORIZONS", "Split", "horizon_of", "split", "splits"]

HORIZONS = {"W": 13, "MS": 18, "M": 18, "QS": 8, "Q": 8, "YS": 6, "Y": 6, "30min": 48, "h": 24, "D": 14}
_DEFAULT_HORIZON = 24


def horizon_of(freq: str) -> int:
    """The held-out length for a pandas frequency alias (``"W-SAT"`` counts as ``"W"``)."""
    return HORIZONS.get(freq, HORIZONS.get(freq.split("-")[0], _DEFAULT_HORIZON))


@attrs.frozen(kw_only=True)
class Split:
    """One series cut into the history a forecaster sees and the held-out truth."""

    series: datasets.Series
    history: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal), repr=False)
    truth: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal), repr=False)

    @property
    def name(self) -> str:
        return self.series.name

    @property
    def horizon(self) -> int:
        return len(self.truth)


def split(series: datasets.Series) -> Split:
    """``series`` without its last ``horizon_of(series.freq)`` values, and those values."""
    h = horizon_of(series.freq)
    return Split(series=series, history=series.values[:-h], truth=series.values[-h:])


def splits(names: list[str] | None = None) -> list[Split]:
    """The splits of the named bundled series (all of :func:`datasets.list_datasets` by default)."""
    return [split(datasets.load(name)) for name in (names or datasets.list_datasets())]
