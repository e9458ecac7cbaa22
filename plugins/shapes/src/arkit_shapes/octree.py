"""``shapes/octree``: a voxelised solid as an octree, breadth first, one child-occupancy token per node.

A ``resolution``-cubed occupancy grid (``resolution = 2**depth``, default 16) is split
recursively into octants. Level 0 is the whole grid; a node at level ``k`` is a cell of
the ``2**k``-per-side grid. Each node's token is the 8-bit mask of its non-empty children
(ids 0..255; bit ``o`` for the octant ``o = 4 dx + 2 dy + dz``). Only non-empty children
become nodes of the next level; the last level's children are the voxels themselves.
Levels are written coarse to fine, nodes of a level in breadth-first order (parent order,
then octant order), so the stream is lossless: decoding gives back the exact grid.

For generation one octree level is one block (:class:`OctreeSchedule`): the model sees
each node's position as an input id (one id per cell of each level's grid, ids after the
256 masks) and predicts every mask of the level in one call, as G3PT and Uni-3DAR go level
of detail by level of detail.

Surfaces come from scikit-image's marching cubes (:meth:`Voxels.to_mesh`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch

import arkit

from ._layout import _Layout, _positive
from .shape import as_shape, check_mesh

__all__ = ["OctreeSchedule", "OctreeTokenizer", "Voxels", "voxelise"]

_OCTANTS = np.array([(dx, dy, dz) for dx in (0, 1) for dy in (0, 1) for dz in (0, 1)])  # octant o = 4 dx + 2 dy + dz


@attrs.frozen(kw_only=True)
class Voxels:
    """A boolean occupancy grid ``[x, y, z]`` over the unit cube, with an optional class label (equal by value)."""

    grid: np.ndarray = attrs.field(eq=attrs.cmp_using(eq=np.array_equal))
    label: int | None = None

    def to_mesh(self) -> Any:
        """The grid's surface by marching cubes (scikit-image) in unit-cube coordinates, outward normals.

        An empty grid gives an empty ``trimesh.Trimesh``.
        """
        import trimesh
        from skimage.measure import marching_cubes

        r = self.grid.shape[0]
        if not self.grid.any():
            return trimesh.Trimesh()
        padded = np.pad(self.grid.astype(np.float32), 1)
        verts, faces, _, _ = marching_cubes(padded, level=0.5)
        mesh = trimesh.Trimesh(vertices=(verts - 0.5) / r, faces=faces[:, ::-1], process=True)
        if mesh.is_volume and mesh.volume < 0:
            mesh.invert()
        return mesh


def voxelise(item: Any, resolution: int = 16) -> Voxels:
    """A :class:`Voxels` grid of a unit-cube mesh (or :class:`~arkit_shapes.Shape`) by trimesh's voxelisation
    (voxels the surface passes through, centres at ``((i, j, k) + 0.5) / resolution``), then filled inside."""
    shape = as_shape(item)
    mesh = shape.mesh.copy()
    check_mesh(mesh)
    pitch = 1.0 / resolution
    mesh.apply_translation([-0.5 * pitch] * 3)  # voxel centres land on multiples of the pitch
    points = mesh.voxelized(pitch).fill().points
    index = np.clip(np.rint(points / pitch).astype(np.int64), 0, resolution - 1)
    grid = np.zeros((resolution,) * 3, dtype=bool)
    grid[index[:, 0], index[:, 1], index[:, 2]] = True
    return Voxels(grid=grid, label=shape.label)


def _pyramid(grid: np.ndarray) -> list[np.ndarray]:
    """Occupancy per level: ``levels[k]`` is ``[2**k] * 3``, the last one the grid itself."""
    levels = [grid]
    while levels[0].shape[0] > 1:
        g = levels[0]
        s = g.shape[0] // 2
        levels.insert(0, g.reshape(s, 2, s, 2, s, 2).any(axis=(1, 3, 5)))
    return levels


class OctreeTokenizer:
    """Octree occupancy tokens (vocabulary 256), level by level, with a class prefix; lossless on voxel grids."""

    lossless = True

    def __init__(self, *, resolution: int = 16, num_classes: int = 4) -> None:
        resolution = _positive("resolution", resolution, 2)
        if resolution & (resolution - 1) or resolution > 64:
            raise arkit.ConfigError(f"resolution must be a power of two from 2 to 64, got {resolution}")
        self.resolution = resolution
        self.depth = resolution.bit_length() - 1
        # input ids: one per cell of the grid of each level 1 .. depth - 1 (the nodes whose masks a block predicts)
        self._input_base = [0, 256]
        for k in range(1, self.depth):
            self._input_base.append(self._input_base[-1] + 8**k)
        self._layout = _Layout(self._input_base[-1], [], num_classes)
        self.num_classes = self._layout.num_classes
        self.vocab_size = self._layout.vocab_size
        self.special_tokens = dict(self._layout.special_tokens)

    @property
    def config(self) -> Mapping[str, Any]:
        return {"resolution": self.resolution, "num_classes": self.num_classes}

    def class_id(self, label: int | None) -> int:
        return self._layout.class_id(label)

    def as_voxels(self, item: Any) -> Voxels:
        """``item`` (Voxels, a boolean array, a Shape or a Trimesh) as a checked, non-empty grid."""
        if isinstance(item, Voxels):
            voxels = item
        elif isinstance(item, np.ndarray):
            voxels = Voxels(grid=item)
        else:
            voxels = voxelise(item, self.resolution)
        grid = np.asarray(voxels.grid)
        if grid.shape != (self.resolution,) * 3:
            raise arkit.InputError(f"expected a {self.resolution}^3 grid, got shape {grid.shape}")
        if grid.dtype != bool and not np.isin(grid, (0, 1)).all():
            raise arkit.InputError("a voxel grid must hold booleans (or 0/1)")
        if not grid.any():
            raise arkit.InputError("the voxel grid is empty: the shape fills no voxel at this resolution")
        return Voxels(grid=grid.astype(bool), label=voxels.label)

    def levels(self, item: Any) -> list[list[int]]:
        """The octree's tokens, one list per level (level 0 holds the root's mask)."""
        occupancy = _pyramid(self.as_voxels(item).grid)
        nodes = [np.zeros(3, dtype=np.int64)]
        out: list[list[int]] = []
        for k in range(self.depth):
            tokens, children = [], []
            finer = occupancy[k + 1]
            for c in nodes:
                mask = 0
                for o, d in enumerate(_OCTANTS):
                    child = 2 * c + d
                    if finer[tuple(child)]:
                        mask |= 1 << o
                        children.append(child)
                tokens.append(mask)
            out.append(tokens)
            nodes = children
        return out

    def nodes(self, blocks: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Cells (level ``len(blocks)``) of the nodes the masks in ``blocks`` open; ids >= 256 read as 0."""
        nodes = [np.zeros(3, dtype=np.int64)]
        for tokens in blocks:
            children = []
            for c, mask in zip(nodes, list(tokens) + [0] * (len(nodes) - len(tokens))):
                mask = int(mask) if 0 <= int(mask) < 256 else 0
                children += [2 * c + d for o, d in enumerate(_OCTANTS) if mask >> o & 1]
            nodes = children
        return nodes

    def input_ids(self, level: int, nodes: Sequence[np.ndarray]) -> list[int]:
        """The input id of each node of ``level`` (1 .. depth - 1): its cell's index in that level's grid."""
        side = 2**level
        return [self._input_base[level] + int((c[0] * side + c[1]) * side + c[2]) for c in nodes]

    def grid(self, blocks: Sequence[Sequence[int]]) -> np.ndarray:
        """The voxel grid of per-level masks (missing levels or masks read as empty)."""
        blocks = list(blocks)[: self.depth]
        grid = np.zeros((self.resolution,) * 3, dtype=bool)
        if len(blocks) < self.depth:
            return grid
        for c in self.nodes(blocks):
            grid[tuple(c)] = True
        return grid

    def split_levels(self, masks: Sequence[int]) -> list[list[int]]:
        """A flat mask stream cut into levels (node counts follow from the masks before)."""
        masks, out, count, pos = [int(m) for m in masks], [], 1, 0
        for _ in range(self.depth):
            level = masks[pos:pos + count]
            out.append(level)
            pos += count
            count = sum(bin(m).count("1") for m in level if 0 <= m < 256)
            if not level or pos >= len(masks):
                break
        return out

    def encode(self, item: Any) -> list[int]:
        if self._layout.is_prompt(item):
            return self._layout.prefix(item)
        voxels = self.as_voxels(item)
        return self._layout.prefix(voxels.label) + [t for level in self.levels(voxels) for t in level]

    def decode(self, ids: Sequence[int]) -> Voxels:
        label, rest = self._layout.split(ids)
        masks = [i for i in rest if i < 256]
        return Voxels(grid=self.grid(self.split_levels(masks)), label=label)

    def compression(self, item: Any) -> dict[str, float]:
        """Octree tokens against the dense grid: ``tokens``, ``voxels``, ``ratio_tokens`` (voxels per token, as
        Uni-3DAR counts it: at least ``8^d / (1 + 8 + ... + 8^(d-1))``, 7.0 at 16^3) and ``ratio_bits`` (8 bits per
        token against 1 per voxel: below 1 for solids that fill most of the grid)."""
        n = sum(len(level) for level in self.levels(item))
        v = self.resolution**3
        return {"tokens": n, "voxels": v, "ratio_tokens": v / n, "ratio_bits": v / (8 * n)}


class OctreeSchedule(arkit.BlockSchedule):
    """One octree level per model call (:func:`arkit.generate_blocks`, ``Pipeline.fit(..., schedule=...)``).

    Block 0 is the root's mask, predicted at the prompt's last position (``[bos, class]``);
    block ``k`` has one input per node of level ``k`` (its cell's input id) and predicts their
    masks. Only masks 1..255 are allowed: a node exists because it is not empty. Training
    items are ``(label, tokenizer.levels(shape))`` pairs (:meth:`item`).
    """

    def __init__(self, tokenizer: OctreeTokenizer) -> None:
        if not isinstance(tokenizer, OctreeTokenizer):
            raise arkit.ConfigError(f"OctreeSchedule needs an OctreeTokenizer, got {type(tokenizer).__name__}")
        self.tokenizer = tokenizer

    @property
    def num_blocks(self) -> int:
        """Blocks (model calls after the prefill, the prefill predicting block 0) of a full octree: its depth."""
        return self.tokenizer.depth

    def item(self, shape: Any) -> tuple[int | None, list[list[int]]]:
        """A training pair: the shape's label (the prompt) and its masks per level."""
        voxels = self.tokenizer.as_voxels(shape)
        return voxels.label, self.tokenizer.levels(voxels)

    def block_inputs(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]]) -> list[int] | None:
        if k == 0:
            return []
        if k >= self.tokenizer.depth:
            return None
        nodes = self.tokenizer.nodes(blocks[:k])
        return self.tokenizer.input_ids(k, nodes) if nodes else None

    def allowed(self, k: int, prompt: Sequence[int], blocks: Sequence[Sequence[int]], n: int) -> torch.Tensor:
        mask = torch.zeros(n, self.tokenizer.vocab_size, dtype=torch.bool)
        mask[:, 1:256] = True
        return mask
