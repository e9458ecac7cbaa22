"""arkit-shapes: 3D shape generation with autoregressive models.

Tokenizers (``shapes/polygen``, ``shapes/face-coords``, ``shapes/octree``), the PolyGen
pointer constraint (``shapes/polygen``), level-by-level octree generation
(:class:`OctreeSchedule`), class guidance, and evaluation against real primitives
(validity, COV / MMD / 1-NNA next to the real-versus-real floor). See docs/shapes.md.
"""

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
