"""arkit-shapes: 3D shape generation with autoregressive models.

Tokenizers (``shapes/polygen``, ``shapes/face-coords``, ``shapes/octree``), the PolyGen
pointer constraint (``shapes/polygen``), level-by-level octree generation
(:class:`OctreeSchedule`), class guidance, and evaluation against real primitives
(validity, COV / MMD / 1-NNA next to the real-versus-real floor). See docs/shapes.md.
"""

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .constraint import PolygenConstraint
    from .datasets import CLASSES, ShapeSplit, load_primitives, make_primitive, make_primitives
    from .face_coords import FaceCoordsTokenizer
    from .generate import MeshSamples, VoxelSamples, sample_meshes, sample_octrees
    from .octree import OctreeSchedule, OctreeTokenizer, Voxels, voxelise
    from .polygen import PolygenTokenizer
    from .shape import Mesh, Shape, check_mesh, check_shapes, normalise
    from .training import load_pretrained

__all__ = ["CLASSES", "FaceCoordsTokenizer", "Mesh", "MeshSamples", "OctreeSchedule", "OctreeTokenizer",
           "PolygenConstraint", "PolygenTokenizer", "Shape", "ShapeSplit", "VoxelSamples", "Voxels", "check_mesh",
           "check_shapes", "load_pretrained", "load_primitives", "make_primitive", "make_primitives", "normalise",
           "sample_meshes", "sample_octrees", "voxelise"]
__version__ = "0.1.0.dev0"


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "constraint": ["PolygenConstraint"],
        "datasets": ["CLASSES", "ShapeSplit", "load_primitives", "make_primitive", "make_primitives"],
        "face_coords": ["FaceCoordsTokenizer"],
        "generate": ["MeshSamples", "VoxelSamples", "sample_meshes", "sample_octrees"],
        "octree": ["OctreeSchedule", "OctreeTokenizer", "Voxels", "voxelise"],
        "polygen": ["PolygenTokenizer"],
        "shape": ["Mesh", "Shape", "check_mesh", "check_shapes", "normalise"],
        "training": ["load_pretrained"],
    },
)
