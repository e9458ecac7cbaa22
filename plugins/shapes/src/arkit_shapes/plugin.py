"""The module the ``arkit`` entry point names: hook implementations only (cheap to import).

Components are registered by import path, so that listing them (``arkit plugins``) imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arkit
from arkit.hookspecs import ComponentRegister

if TYPE_CHECKING:
    from .octree import Voxels


def _grids() -> tuple[Voxels, ...]:
    """Two 16^3 grids the octree round-trips: a labelled block and one unlabelled voxel (built on first use)."""
    import numpy as np

    from .octree import Voxels

    block = np.zeros((16, 16, 16), dtype=bool)
    block[3:11, 5:9, 2:14] = True
    single = np.zeros((16, 16, 16), dtype=bool)
    single[15, 0, 7] = True
    return Voxels(grid=block, label=0), Voxels(grid=single, label=None)


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``shapes/polygen``, ``shapes/face-coords`` and ``shapes/octree``."""
    register("shapes/polygen", "arkit_shapes.polygen:PolygenTokenizer", examples=(0, None),
             description="PolyGen: vertices quantised to `bits` bits and sorted z-y-x, then polygon faces as vertex "
                         "indices in canonical order (new-face and stop tokens), class prefix; decodes to trimesh")
    register("shapes/face-coords", "arkit_shapes.face_coords:FaceCoordsTokenizer", examples=(0, None),
             description="MeshXL: each triangle as its nine quantised corner coordinates, faces sorted, class prefix")
    register("shapes/octree", "arkit_shapes.octree:OctreeTokenizer", examples=_grids,
             description="a voxelised solid (16^3) as an octree, breadth first, one 8-bit child-occupancy token per "
                         "node; lossless on voxel grids; surfaces by marching cubes (scikit-image)")


@arkit.hookimpl
def arkit_register_constraints(register: ComponentRegister) -> None:
    """``shapes/polygen``: the PolyGen pointer and ordering rules."""
    register("shapes/polygen", "arkit_shapes.constraint:PolygenConstraint",
             description="PolyGen sequences: sorted unique vertices, face indices only at generated vertices, no repeat "
                         "in a face, canonical face rotation and order; every sample decodes without index errors")


@arkit.hookimpl
def arkit_register_commands(register: Any) -> None:
    """``arkit shapes demo | eval``."""
    register("shapes", "arkit_shapes.cli:run",
             help="3D shape generation: evaluate the shipped model, or a demo that trains one",
             arguments="arkit_shapes.cli:add_arguments")  # imported only when the command is used
