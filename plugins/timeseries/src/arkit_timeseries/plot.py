"""One forecast as a PNG: the recent history, the held-out truth, the median and the 80 % band."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import tempfile

import numpy as np

from arkit.errors import InputError

__all__ = ["plot_forecast"]


def plot_forecast(path: str | os.PathLike[str], history: np.ndarray, truth: np.ndarray | None, quantiles: np.ndarray,
                  levels: Sequence[float], *, title: str = "", show_last: int = 200) -> Path:
    """Write the plot to ``path`` (atomically) and return it. ``quantiles`` is ``[len(levels), horizon]``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = list(levels)
    for needed in (0.1, 0.5, 0.9):
        if needed not in levels:
            raise InputError(f"the quantile levels must include {needed} to draw the median and the 80% band")
    h = np.asarray(history, dtype=np.float64)[-show_last:]
    t0 = len(h)
    steps = np.arange(t0, t0 + quantiles.shape[1])
    fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
    ax.plot(np.arange(t0), h, color="0.3", lw=1, label="history")
    if truth is not None:
        ax.plot(steps, truth, color="black", lw=1.2, label="truth")
    ax.fill_between(steps, quantiles[levels.index(0.1)], quantiles[levels.index(0.9)], color="tab:blue", alpha=0.3,
                    label="80% band")
    ax.plot(steps, quantiles[levels.index(0.5)], color="tab:blue", lw=1.5, label="median")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".png", delete=False) as tmp:
        fig.savefig(tmp.name, format="png")
    plt.close(fig)
    os.replace(tmp.name, path)
    return path
