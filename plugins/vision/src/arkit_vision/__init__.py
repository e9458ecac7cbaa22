"""arkit-vision: image generation with autoregressive models.

Tokenizers (``vision/pixels``, ``vision/vq``, ``vision/msvq``), raster and next-scale (VAR)
class-conditional generation with classifier-free guidance, evaluation against real digits,
and relaxed speculative decoding for image tokens. See docs/vision.md.
"""

from .datasets import DigitsSplit, ImageSplit, load_digits, load_shapes, make_shapes
from .generate import Samples, image_bits, sample_next_scale, sample_raster
from .image import Image
from .msvq import MultiScaleVQTokenizer
from .pixels import PixelTokenizer
from .vq import FitReport, VQTokenizer

__all__ = ["DigitsSplit", "FitReport", "Image", "ImageSplit", "MultiScaleVQTokenizer", "PixelTokenizer", "Samples",
           "VQTokenizer", "image_bits", "load_digits", "load_shapes", "make_shapes", "sample_next_scale", "sample_raster"]
__version__ = "0.1.0.dev0"
