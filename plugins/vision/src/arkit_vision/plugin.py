"""The module the ``arkit`` entry point names: hook implementations only (cheap to import).

Components are registered by import path, so that listing them (``arkit plugins``) imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arkit
from arkit.hookspecs import ComponentRegister

if TYPE_CHECKING:
    from .image import Image


def _digit_examples() -> tuple[Image, ...]:
    """Four 8 x 8 digit-sized images (built the first time the examples are read)."""
    import numpy as np

    from .image import Image

    ramp = (np.arange(64).reshape(8, 8) % 17).astype(np.uint8)
    return (Image(np.zeros((8, 8), np.uint8), label=0), Image(ramp, label=9), Image(ramp.T.copy(), label=None),
            Image(np.full((8, 8), 16, np.uint8), label=3))


@arkit.hookimpl
def arkit_register_tokenizers(register: ComponentRegister) -> None:
    """``vision/pixels``, ``vision/vq`` and ``vision/msvq``; the examples are digit-sized images they encode."""
    register("vision/pixels", "arkit_vision.pixels:PixelTokenizer",
             description="one id per pixel intensity level, raster order, class-label prefix (digits: 17 levels, 64 ids)",
             examples=_digit_examples)
    register("vision/vq", "arkit_vision.vq:VQTokenizer",
             description="VQ autoencoder (conv encoder/decoder, EMA codebook, dead-code restarts), learned with fit()",
             examples=_digit_examples)
    register("vision/msvq", "arkit_vision.msvq:MultiScaleVQTokenizer",
             description="VAR multi-scale residual VQ (one shared codebook, scales 1, 2, 4, 8), for next-scale prediction",
             examples=_digit_examples)


@arkit.hookimpl
def arkit_register_commands(register: Any) -> None:
    """``arkit vision eval | bench | demo``."""
    register("vision", "arkit_vision.cli:run", help="image generation: evaluate, benchmark decoding, demo",
             arguments="arkit_vision.cli:add_arguments")  # imported only when the command is used


def _content_sampler(content: int, vocab: int) -> tuple[str, dict[str, Any]]:
    """Ban class and special ids, then sample at temperature 1 (what :func:`arkit_vision.generate.content_sampler` builds)."""
    return ("core/chain", {"steps": [
        {"name": "core/bad-tokens", "config": {"sequences": [[i] for i in range(content, vocab)]}},
        {"name": "core/multinomial", "config": {"temperature": 1.0, "top_k": None}},
    ]})


@arkit.hookimpl
def arkit_register_pipeline_presets(register: Any) -> None:
    """``vision/digits-raster`` and ``vision/digits-next-scale``: the digit models of ``arkit vision eval``, untrained."""
    from ._layout import _Layout

    width = 96
    for name, tokenizer, content, seq, what in [
        ("vision/digits-raster", ("vision/pixels", {}), 17, 74,
         "class-conditional raster model over 17-level pixel tokens for 8 x 8 digits"),
        ("vision/digits-next-scale", ("vision/msvq", {"codebook_size": 32}), 32, 94,
         "next-scale (VAR) model over msvq tokens (scales 1, 2, 4, 8); fit the tokenizer first"),
    ]:
        vocab = _Layout(content, 10).vocab_size
        register(name, {
            "tokenizer": tokenizer,
            "backbone": ("core/transformer", {"vocab_size": vocab, "d_model": width, "n_layers": 3, "n_heads": 4,
                                              "max_seq_len": seq}),
            "head": ("core/categorical", {"d_model": width, "vocab_size": vocab}),
            "sampler": _content_sampler(content, vocab),
            "cache": ("core/dynamic", {}),
        }, description=f"A 0.34M-parameter {what}.")
