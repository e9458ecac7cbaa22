"""arkit-vision: image generation with autoregressive models.

Tokenizers (``vision/pixels``, ``vision/vq``, ``vision/msvq``), raster and next-scale (VAR)
class-conditional generation with classifier-free guidance, evaluation against real digits,
and relaxed speculative decoding for image tokens. See docs/vision.md.
"""

from typing import TYPE_CHECKING

import lazy_loader

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


#: Public names load on first use (PEP 562, through lazy_loader), so that importing this package (which
#: ``arkit --help`` does through the plugin's entry point) imports no torch. Submodule -> its public names.
__getattr__, __dir__, _ = lazy_loader.attach(
    __name__,
    submod_attrs={
        "datasets": ["DigitsSplit", "ImageSplit", "load_digits", "load_shapes", "make_shapes"],
        "generate": ["Samples", "image_bits", "sample_next_scale", "sample_raster"],
        "image": ["Image"],
        "msvq": ["MultiScaleVQTokenizer"],
        "pixels": ["PixelTokenizer"],
        "vq": ["FitReport", "VQTokenizer"],
    },
)
