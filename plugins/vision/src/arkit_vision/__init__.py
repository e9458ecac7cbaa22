"""arkit-vision: image generation with autoregressive models.

Tokenizers (``vision/pixels``, ``vision/vq``, ``vision/msvq``), raster and next-scale (VAR)
class-conditional generation with classifier-free guidance, evaluation against real digits,
and relaxed speculative decoding for image tokens. See docs/vision.md.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .datasets import DigitsSplit, ImageSplit, load_digits, load_shapes, make_shapes
    from .generate import Samples, image_bits, sample_next_scale, sample_raster
    from .image import Image
    from .msvq import MultiScaleVQTokenizer
    from .pixels import PixelTokenizer
    from .vq import FitReport, VQTokenizer

__all__ = ["DigitsSplit", "FitReport", "Image", "ImageSplit", "MultiScaleVQTokenizer", "PixelTokenizer", "Samples",
           "VQTokenizer", "image_bits", "load_digits", "load_shapes", "make_shapes", "sample_next_scale", "sample_raster"]
__version__ = "0.1.0.dev0"


#: Public name -> the submodule that defines it, imported the first time the name is used (PEP 562), so that
#: importing this package (which ``arkit --help`` does through the plugin's entry point) imports no torch.
_LAZY: dict[str, str] = {
    "DigitsSplit": ".datasets",
    "ImageSplit": ".datasets",
    "load_digits": ".datasets",
    "load_shapes": ".datasets",
    "make_shapes": ".datasets",
    "Samples": ".generate",
    "image_bits": ".generate",
    "sample_next_scale": ".generate",
    "sample_raster": ".generate",
    "Image": ".image",
    "MultiScaleVQTokenizer": ".msvq",
    "PixelTokenizer": ".pixels",
    "FitReport": ".vq",
    "VQTokenizer": ".vq",
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
