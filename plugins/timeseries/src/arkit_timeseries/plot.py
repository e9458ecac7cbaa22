"""Forecasts as PNGs: the recent history, the held-out truth, the median and the 80 % band.

:func:`plot_forecast` draws one series; :func:`plot_grid` draws many in one
figure, optionally with a second forecaster's median for comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
import math
import os
from typing import Any
from pathlib import Path
import tempfile

import numpy as np

import attrs

from arkit.errors import InputError


@attrs.frozen(kw_only=True, eq=False)
class Panel:
    """One series of a :func:`plot_grid`: history, truth, quantiles ``[len(levels), horizon]``, and an optional
    comparison median (``[horizon]``, e.g. a baseline's)."""

    title: str
    history: np.ndarray
    truth: np.ndarray | None
    quantiles: np.ndarray
    compare: np.ndarray | None = None


def _check_levels(levels: Sequence[float]) -> list[float]:
    levels = list(levels)
    for needed in (0.1, 0.5, 0.9):
        if needed not in levels:
            raise InputError(f"the quantile levels must include {needed} to draw the median and the 80% band")
    return levels


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as tmp:
        fig.savefig(tmp.name, format="png")
    plt.close(fig)
    os.replace(tmp.name, path)
    return path


def _draw(ax: Any, panel: Panel, levels: list[float], show_last: int, label: str, compare_label: str) -> None:
    h = np.asarray(panel.history, dtype=np.float64)[-show_last:]
    t0 = len(h)
    steps = np.arange(t0, t0 + panel.quantiles.shape[1])
    ax.plot(np.arange(t0), h, color="0.3", lw=0.8, label="history")
    if panel.truth is not None:
        ax.plot(steps, panel.truth, color="black", lw=1.0, label="truth")
    ax.fill_between(steps, panel.quantiles[levels.index(0.1)], panel.quantiles[levels.index(0.9)],
                    color="tab:blue", alpha=0.3, label=f"{label} 80% band")
    ax.plot(steps, panel.quantiles[levels.index(0.5)], color="tab:blue", lw=1.2, label=f"{label} median")
    if panel.compare is not None:
        ax.plot(steps, panel.compare, color="tab:orange", lw=1.0, ls="--", label=compare_label)
    ax.set_title(panel.title, fontsize=8)
    ax.tick_params(labelsize=6)


def plot_grid(path: str | os.PathLike[str], panels: Sequence[Panel], levels: Sequence[float], *, columns: int = 4,
              show_last: int = 120, label: str = "model", compare_label: str = "baseline median",
              title: str = "") -> Path:
    """All ``panels`` in one figure (``columns`` per row), written atomically to ``path``; returns it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise InputError("plot_grid needs at least one panel")
    levels = _check_levels(levels)
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.2 * rows), dpi=90, squeeze=False)
    for ax, panel in zip(axes.flat, panels):
        _draw(ax, panel, levels, show_last, label, compare_label)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.03, 1, 0.98 if title else 1))
    return _save(fig, path)

__all__ = ["Panel", "plot_forecast", "plot_grid"]


def plot_forecast(path: str | os.PathLike[str], history: np.ndarray, truth: np.ndarray | None, quantiles: np.ndarray,
                  levels: Sequence[float], *, title: str = "", show_last: int = 200,
                  compare: np.ndarray | None = None, label: str = "model", compare_label: str = "baseline median") -> Path:
    """Write the plot to ``path`` (atomically) and return it. ``quantiles`` is ``[len(levels), horizon]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = _check_levels(levels)
    fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
    _draw(ax, Panel(title=title, history=history, truth=truth, quantiles=np.asarray(quantiles), compare=compare),
          levels, show_last, label, compare_label)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)
