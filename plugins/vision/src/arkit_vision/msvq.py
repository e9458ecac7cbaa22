"""``vision/msvq``: multi-scale residual VQ as in VAR, the tokenizer of next-scale prediction.

The encoder's ``side x side`` latent map is quantised coarse to fine with one shared
codebook: at scale ``s`` the residual left by the earlier scales is area-downsampled to
``s x s`` and quantised, and its entries, upsampled (bilinear) to ``side x side``, are added
to the reconstruction. The ids of all scales, concatenated coarse to fine, are the tokens
(``1 + 4 + 16 + 64 = 85`` for scales ``(1, 2, 4, 8)``); :meth:`encode_maps` gives them as one
map per scale, the layout of :class:`arkit.NextScaleSchedule` and
:func:`arkit.generate_next_scale`. With ``scales=(1, side)`` it is close to plain single-scale VQ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

import arkit

from .vq import VQTokenizer

__all__ = ["MultiScaleVQTokenizer"]


class MultiScaleVQTokenizer(VQTokenizer):
    """Residual quantisation over ``scales`` (coarse to fine, the last one the latent map's side)."""

    def __init__(self, *, scales: Sequence[int] = (1, 2, 4, 8), **config: Any) -> None:
        super().__init__(**config)
        try:
            sides = tuple(int(s) for s in scales)
        except (TypeError, ValueError):
            raise arkit.ConfigError(f"msvq scales must be a list of integers, got {scales!r}") from None
        if not sides or sides[-1] != self.side or any(b <= a for a, b in zip(sides, sides[1:])) or sides[0] != 1:
            raise arkit.ConfigError(f"msvq scales must start at 1, grow strictly and end at the token map's side {self.side} "
                                    f"(image_size / 2**downsample), like (1, 2, 4, {self.side}); got {scales!r}")
        self._scales = sides

    @property
    def config(self) -> Mapping[str, Any]:
        return {**super().config, "scales": list(self._scales)}

    @property
    def schedule(self) -> arkit.NextScaleSchedule:
        """The :class:`arkit.NextScaleSchedule` of these scales."""
        return arkit.NextScaleSchedule(self._scales)

    def onnx_graphs(self) -> dict[str, Any]:
        """``"decode"``: ``codes [B, n]`` int64 (all scales, coarse to fine) -> ``images [B, C, H, W]``."""
        from arkit.onnx import TokenizerGraph

        from .vq import _DecodeGraph

        codes = torch.randint(0, self.codebook_size, (2, self.num_content_tokens), generator=torch.Generator().manual_seed(0))
        return {"decode": TokenizerGraph(module=_DecodeGraph(self), inputs={"codes": codes}, outputs=["images"],
                                         dynamic={"codes": {0: "batch"}}, atol=1e-3)}
