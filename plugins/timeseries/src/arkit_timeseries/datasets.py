"""Real series that ship inside PyPI packages: nothing is downloaded.

``load(name)`` returns a :class:`Series`; ``list_datasets()`` the names. Sources:

- statsmodels (its bundled CSVs, read through ``statsmodels.datasets.<name>.load_pandas``):
  ``co2`` (weekly Mauna Loa CO2 from 1958, with NaN gaps), ``sunspots`` (yearly
  from 1700), ``nile`` (yearly flow, 1871-1970), ``elnino`` (monthly sea surface
  temperature 1950-2010, the year-by-month table read row by row), and
  ``macrodata/<column>`` (quarterly US macro data 1959-2009: ``realgdp``,
  ``realcons``, ``realinv``, ``realgovt``, ``realdpi``, ``cpi``, ``m1``,
  ``tbilrate``, ``unemp``, ``pop``, ``infl``, ``realint``).
- pmdarima (its bundled files, through ``pmdarima.datasets.load_<name>``):
  ``taylor`` (half-hourly UK electricity demand, 12 weeks of 2000), ``airpassengers``,
  ``wineind``, ``lynx``, ``ausbeer``, ``austres``, ``woolyrnq``, ``heartrate`` and
  ``sunspots-monthly``. pmdarima's ``gasoline`` and ``msft`` are left out: the
  first downloads its file, the second is a stock table, not one series.

``season_length`` is the period the metrics' seasonal naive uses, by the usual
convention for the frequency (GluonTS/Chronos: 52 weekly, 12 monthly, 4
quarterly, 1 yearly, 48 half-hourly). ``seasonalities`` lists every known period,
``season_length`` first: taylor also has the weekly 336, the yearly sunspots
the approximate 11-year cycle, lynx a 10-year one. ``nonnegative`` marks counts
and amounts that cannot go below zero (everything but elnino's temperatures and
the rates tbilrate, infl and realint); the evaluation floors every forecast of
those at 0.
"""

from __future__ import annotations

from collections.abc import Callable
import importlib
from typing import Any

import attrs
import numpy as np

from arkit.errors import ArkitError

__all__ = ["Series", "UnknownDatasetError", "list_datasets", "load"]


@attrs.frozen(kw_only=True)
class Series:
    """One univariate series and what a forecaster needs to know about it."""

    name: str
    values: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal), repr=lambda v: f"<{len(v)} values>")
    freq: str  # pandas offset alias: "W", "MS", "QS", "YS", "30min", or "" when unknown
    season_length: int
    seasonalities: tuple[int, ...]
    start: str  # the first timestamp or period, as text ("" when unknown)
    source: str  # "statsmodels" or "pmdarima"
    description: str = ""
    nonnegative: bool = False
    """Counts or amounts that cannot go below zero: forecasts are floored at 0."""

    def __len__(self) -> int:
        return len(self.values)


_SIGNED_MACRO = ("tbilrate", "infl", "realint")
_MACRO = ("realgdp", "realcons", "realinv", "realgovt", "realdpi", "cpi", "m1", "tbilrate", "unemp", "pop", "infl", "realint")


def _statsmodels(module: str) -> Any:
    return importlib.import_module(f"statsmodels.datasets.{module}").load_pandas().data


def _co2() -> Series:
    data = _statsmodels("co2")
    return Series(name="co2", values=data["co2"].to_numpy(np.float64), freq="W-SAT", season_length=52,
                  seasonalities=(52,), start=str(data.index[0].date()), source="statsmodels",
                  description="weekly atmospheric CO2 at Mauna Loa (ppm), with NaN gaps", nonnegative=True)


def _sunspots() -> Series:
    data = _statsmodels("sunspots")
    return Series(name="sunspots", values=data["SUNACTIVITY"].to_numpy(np.float64), freq="YS", season_length=1,
                  seasonalities=(1, 11), start=str(int(data["YEAR"].iloc[0])), source="statsmodels",
                  description="yearly sunspot activity", nonnegative=True)


def _nile() -> Series:
    data = _statsmodels("nile")
    return Series(name="nile", values=data["volume"].to_numpy(np.float64), freq="YS", season_length=1,
                  seasonalities=(1,), start=str(int(data["year"].iloc[0])), source="statsmodels",
                  description="yearly volume of the Nile at Aswan", nonnegative=True)


def _elnino() -> Series:
    data = _statsmodels("elnino")
    months = data.drop(columns=["YEAR"]).to_numpy(np.float64).reshape(-1)  # row by row: Jan..Dec of each year
    return Series(name="elnino", values=months, freq="MS", season_length=12, seasonalities=(12,),
                  start=f"{int(data['YEAR'].iloc[0])}-01", source="statsmodels",
                  description="monthly sea surface temperature (El Nino region)")


def _macro(column: str) -> Callable[[], Series]:
    def load() -> Series:
        data = _statsmodels("macrodata")
        return Series(name=f"macrodata/{column}", values=data[column].to_numpy(np.float64), freq="QS",
                      season_length=4, seasonalities=(4,), start="1959Q1", source="statsmodels",
                      description=f"US macroeconomic data, quarterly: {column}",
                      nonnegative=column not in _SIGNED_MACRO)
    return load


_PMDARIMA = {  # name: (loader, freq, seasonalities, start, description)
    "taylor": ("taylor", "30min", (48, 336), "2000-06-05", "half-hourly electricity demand, England and Wales"),
    "airpassengers": ("airpassengers", "MS", (12,), "1949-01", "monthly airline passengers (thousands)"),
    "wineind": ("wineind", "MS", (12,), "1980-01", "monthly Australian wine sales"),
    "lynx": ("lynx", "YS", (1, 10), "1821", "yearly Canadian lynx trappings"),
    "ausbeer": ("ausbeer", "QS", (4,), "1956Q1", "quarterly Australian beer production"),
    "austres": ("austres", "QS", (4,), "1971Q2", "quarterly Australian residents (thousands)"),
    "woolyrnq": ("woolyrnq", "QS", (4,), "1965Q1", "quarterly Australian woollen yarn production"),
    "heartrate": ("heartrate", "", (1,), "", "heart rate of a subject at rest, 0.5 s apart"),
    "sunspots-monthly": ("sunspots", "MS", (12,), "1749-01", "monthly sunspot numbers"),
}


def _pmdarima(name: str) -> Callable[[], Series]:
    loader, freq, seasonalities, start, description = _PMDARIMA[name]

    def load() -> Series:
        try:
            datasets = importlib.import_module("pmdarima.datasets")
        except ImportError as exc:  # pragma: no cover - pmdarima is a dependency
            raise ArkitError(f"dataset {name!r} comes with pmdarima, which is not importable: {exc}") from None
        values = np.asarray(getattr(datasets, f"load_{loader}")(), dtype=np.float64)
        return Series(name=name, values=values, freq=freq, season_length=seasonalities[0],
                      seasonalities=seasonalities, start=start, source="pmdarima", description=description,
                      nonnegative=True)
    return load


_LOADERS: dict[str, Callable[[], Series]] = {
    "co2": _co2, "sunspots": _sunspots, "nile": _nile, "elnino": _elnino,
    **{f"macrodata/{c}": _macro(c) for c in _MACRO},
    **{name: _pmdarima(name) for name in _PMDARIMA},
}


class UnknownDatasetError(ArkitError, KeyError):
    """No bundled series has this name (a ``KeyError``, like arkit's unknown components)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def list_datasets() -> list[str]:
    """Every name :func:`load` accepts."""
    return list(_LOADERS)


def load(name: str) -> Series:
    """The bundled series ``name`` (see :func:`list_datasets`), read from the installed package's files."""
    if name not in _LOADERS:
        import difflib

        close = difflib.get_close_matches(str(name), _LOADERS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(_LOADERS)}"
        raise UnknownDatasetError(f"no bundled series named {name!r}{hint}")
    return _LOADERS[name]()
