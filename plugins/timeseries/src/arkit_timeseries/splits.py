"""The evaluation split of the bundled series: a held-out tail per series, its length set by the frequency.

As in the Chronos benchmark, the forecast horizon follows the frequency: 13 for
weekly, 18 for monthly, 8 for quarterly, 6 for yearly and 48 (one day) for
half-hourly series; 24 when the frequency is unknown (heartrate). The last
``horizon`` values of a series are the held-out truth; everything before them is
the history a forecaster sees and the only part training may use.

The series also fall into two groups, as Chronos' Benchmark I (in-domain) and
II (zero-shot): :data:`ZERO_SHOT` are the small textbook series that come with
pmdarima (all but taylor and the monthly sunspots); a shipped checkpoint never
sees any part of them, not even their histories. Every other series is
:func:`in_domain`: its history is training data, its tail is not.
"""

from __future__ import annotations

import attrs
import numpy as np

from . import datasets

__all__ = ["GROUPS", "HORIZONS", "ZERO_SHOT", "Split", "group_of", "horizon_of", "in_domain", "split", "splits"]

HORIZONS = {"W": 13, "MS": 18, "M": 18, "QS": 8, "Q": 8, "YS": 6, "Y": 6, "30min": 48, "h": 24, "D": 14}
_DEFAULT_HORIZON = 24

ZERO_SHOT = ("airpassengers", "wineind", "lynx", "ausbeer", "austres", "woolyrnq", "heartrate")
"""The held-out group: never trained on, evaluated zero-shot."""
GROUPS = ("in-domain", "zero-shot")


def in_domain() -> list[str]:
    """The bundled series whose histories a checkpoint may train on (all but :data:`ZERO_SHOT`)."""
    return [name for name in datasets.list_datasets() if name not in ZERO_SHOT]


def group_of(name: str) -> str:
    """``"zero-shot"`` for the names in :data:`ZERO_SHOT`, ``"in-domain"`` otherwise."""
    return "zero-shot" if name in ZERO_SHOT else "in-domain"


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
