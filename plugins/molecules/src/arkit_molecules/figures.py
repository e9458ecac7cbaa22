"""PNG figures of an evaluation's JSON (``evaluation.evaluate_models``): ring sizes, QED and SA, a sample grid.

Every figure is drawn from the JSON alone, so the committed figures and the committed
JSON tell the same story. Files are written atomically (a temporary file, then a rename).
"""

from __future__ import annotations

from collections.abc import Mapping
import os
from pathlib import Path
import tempfile
from typing import Any

__all__ = ["plot_properties", "plot_ring_sizes", "write_figures"]


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a figure is for everyone
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _series(results: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    return [("MOSES test", results["test"]), *results["runs"].items()]


def plot_ring_sizes(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Share of rings of each size (3 to 7, then 8 or more) for the test set and each run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = ["3", "4", "5", "6", "7", ">=8"]
    series = _series(results)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    width = 0.8 / len(series)
    for i, (name, row) in enumerate(series):
        counts = {int(k): v for k, v in row["ring_sizes"].items()}
        values = [counts.get(s, 0) for s in range(3, 8)] + [sum(v for k, v in counts.items() if k >= 8)]
        total = sum(values) or 1
        ax.bar(np.arange(len(labels)) + i * width, [v / total for v in values], width, label=name)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels)
    ax.set_xlabel("ring size (atoms)")
    ax.set_ylabel("share of rings")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    ax.set_title("Ring sizes")
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def plot_properties(results: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """QED and SA-score histograms (as densities) of the test set and each run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .evaluation import HISTOGRAMS

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, name, title in zip(axes, ("qed", "sa"), ("QED", "SA score")):
        low, high, bins = HISTOGRAMS[name]
        centres = low + (np.arange(bins) + 0.5) * (high - low) / bins
        for label, row in _series(results):
            counts = np.asarray(row[f"{name}_hist"], dtype=float)
            ax.plot(centres, counts / max(counts.sum(), 1), label=label, lw=2 if label == "MOSES test" else 1.2)
        ax.set_title(title)
        ax.set_xlabel(title)
    axes[0].set_ylabel("share of molecules")
    axes[1].legend(fontsize=8)
    out = _save(fig, Path(path))
    plt.close(fig)
    return out


def write_figures(results: Mapping[str, Any], folder: str | os.PathLike[str]) -> list[Path]:
    """``rings.png``, ``properties.png`` and ``samples.png`` (the first molecules of each run) in ``folder``."""
    from .demo import draw_grid

    folder = Path(folder)
    picks, legends = [], []
    for run, smiles in results["picks"].items():
        picks += smiles[:6]
        legends += [run] * len(smiles[:6])
    return [plot_ring_sizes(results, folder / "rings.png"), plot_properties(results, folder / "properties.png"),
            draw_grid(picks, legends, folder / "samples.png")]
