"""Files people open: meshes as ``.obj`` / ``.glb`` (trimesh's exporters) and a PNG grid of renders.

The grid is drawn with matplotlib's 3-D axes (flat-shaded polygons, no GPU), one row per
group (``generated, box``, ``real, box``...), written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
import os
from pathlib import Path
import tempfile
from typing import Any

import numpy as np

import arkit

__all__ = ["export_meshes", "render_grid"]


def export_meshes(meshes: Sequence[Any], directory: str | os.PathLike[str], *, prefix: str = "sample",
                  formats: Sequence[str] = ("obj", "glb")) -> list[Path]:
    """Write each mesh with faces as ``<prefix>-<i>.<format>``; meshes without faces are skipped. Returns the paths."""
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, mesh in enumerate(meshes):
        if len(mesh.faces) == 0:
            continue
        for fmt in formats:
            if fmt not in ("obj", "glb", "ply", "stl"):
                raise arkit.ConfigError(f"unknown mesh format {fmt!r}: use obj, glb, ply or stl")
            path = out_dir / f"{prefix}-{i:03d}.{fmt}"
            mesh.export(str(path), file_type=fmt)
            paths.append(path)
    return paths


def _draw(ax: Any, mesh: Any) -> None:
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    ax.set_axis_off()
    ax.set_xlim(0, 1), ax.set_ylim(0, 1), ax.set_zlim(0, 1)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=25, azim=35)
    if len(mesh.faces) == 0:
        return
    triangles = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    light = np.array([0.4, -0.3, 0.85]) / np.linalg.norm([0.4, -0.3, 0.85])
    shade = 0.35 + 0.65 * np.abs(normals @ light)
    colours = np.c_[0.25 * shade, 0.5 * shade, 0.85 * shade, np.ones_like(shade)]
    ax.add_collection3d(Poly3DCollection(triangles, facecolors=colours, edgecolors=(0, 0, 0, 0.25), linewidths=0.3))


def render_grid(rows: Sequence[tuple[str, Sequence[Any]]], path: str | os.PathLike[str], *, cell: float = 1.3) -> Path:
    """A PNG with one row of renders per ``(title, meshes)``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise arkit.InputError("render_grid needs at least one row of meshes")
    cols = max(len(meshes) for _, meshes in rows)
    fig = plt.figure(figsize=(cell * cols + 1.2, cell * len(rows)))
    for r, (title, meshes) in enumerate(rows):
        for c, mesh in enumerate(meshes):
            ax = fig.add_subplot(len(rows), cols, r * cols + c + 1, projection="3d")
            _draw(ax, mesh)
        fig.text(0.005, 1 - (r + 0.5) / len(rows), title, va="center", ha="left", fontsize=8)
    fig.subplots_adjust(left=0.08, right=1, top=1, bottom=0, wspace=0, hspace=0)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=target.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=90)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the PNG is for people to open
        os.replace(tmp, target)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
