"""PNG grids of graphs (networkx drawings with matplotlib), generated next to real."""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path

from .graph import Graph

__all__ = ["draw_grid"]


def draw_grid(rows: Sequence[tuple[str, Sequence[Graph]]], path: str | os.PathLike[str], *, columns: int = 8,
              seed: int = 0) -> Path:
    """One row of ``columns`` drawings per ``(title, graphs)`` pair, written to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    fig, axes = plt.subplots(len(rows), columns, figsize=(1.6 * columns, 1.8 * len(rows)), squeeze=False)
    for r, (title, graphs) in enumerate(rows):
        for c in range(columns):
            ax = axes[r][c]
            ax.set_axis_off()
            if c >= len(graphs):
                continue
            g = graphs[c].to_networkx()
            pos = nx.kamada_kawai_layout(g) if g.number_of_nodes() > 1 else nx.spring_layout(g, seed=seed)
            nx.draw_networkx(g, pos=pos, ax=ax, node_size=18, with_labels=False, width=0.8,
                             node_color="#3b6ea8", edge_color="#555555")
            if c == 0:
                ax.set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
