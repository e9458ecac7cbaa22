"""PNG grids of images: one row per class (or any grouping), written atomically."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import tempfile

import numpy as np

from .image import Image

__all__ = ["save_grid"]


def save_grid(rows: Sequence[Sequence[Image]], path: str | os.PathLike[str], *, max_value: int = 16,
              row_labels: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Write ``rows`` of images as one PNG (grey images in reversed grey: ink is dark) and return its path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig = Figure(figsize=(0.6 * n_cols + (0.6 if row_labels else 0.1), 0.6 * n_rows + (0.4 if title else 0.1)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i][j]
            ax.set_xticks([]), ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(row):
                pixels = np.asarray(row[j].pixels, dtype=np.float64) / max_value
                if pixels.ndim == 2:
                    ax.imshow(pixels, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
                else:
                    ax.imshow(np.clip(pixels, 0, 1), interpolation="nearest")
            ax.set_aspect("equal")
            if j == 0 and row_labels:
                ax.set_ylabel(row_labels[i], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.1 if row_labels else 0.02, right=0.98, bottom=0.02, top=0.9 if title else 0.98,
                        wspace=0.05, hspace=0.05)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
