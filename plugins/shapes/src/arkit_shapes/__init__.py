"""arkit-shapes: 3D shape generation with autoregressive models.

Tokenizers (``shapes/polygen``, ``shapes/face-coords``, ``shapes/octree``), the PolyGen
pointer constraint (``shapes/polygen``), level-by-level octree generation
(:class:`OctreeSchedule`), class guidance, and evaluation against real primitives
(validity, COV / MMD / 1-NNA next to the real-versus-real floor). See docs/shapes.md.
"""

import importlib
from typing import TYPE_CHECKING, Any

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


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "PolygenConstraint": ".constraint",
    "CLASSES": ".datasets",
    "ShapeSplit": ".datasets",
    "load_primitives": ".datasets",
    "make_primitive": ".datasets",
    "make_primitives": ".datasets",
    "FaceCoordsTokenizer": ".face_coords",
    "MeshSamples": ".generate",
    "VoxelSamples": ".generate",
    "sample_meshes": ".generate",
    "sample_octrees": ".generate",
    "OctreeSchedule": ".octree",
    "OctreeTokenizer": ".octree",
    "Voxels": ".octree",
    "voxelise": ".octree",
    "PolygenTokenizer": ".polygen",
    "Mesh": ".shape",
    "Shape": ".shape",
    "check_mesh": ".shape",
    "check_shapes": ".shape",
    "normalise": ".shape",
    "load_pretrained": ".training",
}


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later uses are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
