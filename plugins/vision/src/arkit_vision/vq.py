"""``vision/vq``: a VQ autoencoder tokenizer (learned with ``fit``), one code per cell of a token map.

An encoder turns an image into a ``side x side`` map of ``code_dim`` vectors; each vector is
replaced by its nearest codebook entry, whose id is the token. A decoder turns the quantised
map back into pixels. The codebook learns by exponential moving averages of the vectors
assigned to each entry (VQ-VAE-2), entries nobody uses are restarted on random encoder
outputs (dead-code restarts), and the encoder and decoder learn by reconstruction with a
straight-through gradient and a commitment loss.

Until :meth:`VQTokenizer.fit` has run, ``fitted`` is false and :meth:`arkit.Pipeline.fit`
fits it on its data first. Weights, codebook and the ``fitted`` flag are tensors, so the
tokenizer saves and loads with the pipeline; a saved codebook of another size or width is
refused on loading (:class:`arkit.WeightsError`).

:class:`~arkit_vision.msvq.MultiScaleVQTokenizer` (``vision/msvq``) adds VAR's residual
quantisation over several scales with the same codebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import arkit

from ._autoencoder import _decoder, _encoder
from ._codebook import _Codebook
from ._layout import _Layout
from .image import Image, as_pixels

__all__ = ["FitReport", "VQTokenizer"]


@attrs.frozen(kw_only=True)
class FitReport:
    """What :meth:`VQTokenizer.fit` reached."""

    steps: int
    mse: float
    """Mean squared reconstruction error of pixels scaled to [0, 1], on the fitted items."""
    usage: float
    """Share of codebook entries used when encoding the fitted items."""
    restarts: int
    """Dead codebook entries moved onto data during fitting."""


def _positive(name: str, value: Any, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise arkit.ConfigError(f"vq tokenizer {name} must be an integer >= {minimum}, got {value!r}")
    return value


class _DecodeGraph(nn.Module):
    """``codes [B, side, side]`` (int64; multi-scale: ``[B, n]``) -> pixels ``[B, C, H, W]`` (float in [0, max_value];
    round them for integer pixels)."""

    def __init__(self, tokenizer: VQTokenizer) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.tokenizer._pixels_float(codes.flatten(1))


class VQTokenizer(nn.Module):
    """Images -> a ``side x side`` map of codebook ids (raster order), with a class-label prefix.

    ``image_size`` and ``channels`` give the images (integer pixels in ``[0, max_value]``),
    ``downsample`` the stride-2 stages (``side = image_size / 2**downsample``). For digits:
    ``image_size=8, max_value=16, downsample=0`` (an 8 x 8 map); for 32 x 32 RGB shapes:
    ``image_size=32, channels=3, max_value=255, downsample=2``.
    """

    lossless = False

    def __init__(self, *, image_size: int = 8, channels: int = 1, max_value: int = 16, codebook_size: int = 32,
                 code_dim: int = 8, hidden: int = 32, downsample: int = 0, num_classes: int = 10,
                 fit_steps: int = 800, seed: int = 0) -> None:
        super().__init__()
        self.image_size = _positive("image_size", image_size)
        self.channels = _positive("channels", channels)
        self.max_value = _positive("max_value", max_value)
        self.codebook_size = _positive("codebook_size", codebook_size, 2)
        self.code_dim = _positive("code_dim", code_dim)
        self.hidden = _positive("hidden", hidden)
        self.downsample = _positive("downsample", downsample, 0)
        self.fit_steps = _positive("fit_steps", fit_steps)
        self.seed = int(seed)
        if image_size % (2**downsample):
            raise arkit.ConfigError(f"image_size {image_size} is not divisible by 2**downsample = {2**downsample}")
        self.side = image_size // 2**downsample
        self._scales: tuple[int, ...] = (self.side,)
        self._layout = _Layout(codebook_size, num_classes)
        self.num_classes = num_classes
        self.vocab_size = self._layout.vocab_size
        self.special_tokens = dict(self._layout.special_tokens)
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(self.seed)  # the same config gives the same initial weights
        try:
            self.encoder = _encoder(channels, hidden, code_dim, downsample)
            self.decoder = _decoder(channels, hidden, code_dim, downsample)
            self.codebook = _Codebook(codebook_size, code_dim)
        finally:
            torch.random.set_rng_state(generator_state)
        self.register_buffer("fitted_flag", torch.zeros((), dtype=torch.bool))
        self.eval()

    # -- configuration ---------------------------------------------------------------------
    @property
    def config(self) -> Mapping[str, Any]:
        return {"image_size": self.image_size, "channels": self.channels, "max_value": self.max_value,
                "codebook_size": self.codebook_size, "code_dim": self.code_dim, "hidden": self.hidden,
                "downsample": self.downsample, "num_classes": self.num_classes, "fit_steps": self.fit_steps,
                "seed": self.seed}

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` has run (saved with the weights)."""
        return bool(self.fitted_flag)

    @property
    def scales(self) -> tuple[int, ...]:
        """Sides of the token maps an image becomes, coarse to fine (one for plain VQ)."""
        return self._scales

    @property
    def num_content_tokens(self) -> int:
        """Codebook ids per image (all scales)."""
        return sum(s * s for s in self._scales)

    # -- pixels <-> tensors ----------------------------------------------------------------
    def _tensor(self, items: Sequence[Any]) -> torch.Tensor:
        arrays = [as_pixels(item, height=self.image_size, width=self.image_size, channels=self.channels,
                            max_value=self.max_value) for item in items]
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float()
        return x / self.max_value * 2.0 - 1.0

    def _image(self, pixels: torch.Tensor, label: int | None) -> Image:
        array = pixels.permute(1, 2, 0).numpy().astype(np.uint8 if self.max_value < 256 else np.int64)
        return Image(array[:, :, 0] if self.channels == 1 else array, label=label)

    # -- quantisation ----------------------------------------------------------------------
    def _quantise(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """Residual quantisation over ``scales``: ``(z_hat, ids per scale [B, s, s], residual targets [N, D])``."""
        B, D, side, _ = z.shape
        z_hat = torch.zeros_like(z)
        ids, targets = [], []
        for s in self._scales:
            residual = z - z_hat
            r = residual if s == side else F.interpolate(residual, size=(s, s), mode="area")
            flat = r.permute(0, 2, 3, 1).reshape(-1, D)
            idx = self.codebook.nearest(flat)
            ids.append(idx.view(B, s, s))
            targets.append(flat)
            z_hat = z_hat + self._upsample(self.codebook.lookup(idx).view(B, s, s, D).permute(0, 3, 1, 2), side)
        return z_hat, ids, targets

    @staticmethod
    def _upsample(q: torch.Tensor, side: int) -> torch.Tensor:
        return q if q.shape[-1] == side else F.interpolate(q, size=(side, side), mode="bilinear", align_corners=False)

    def _latents_from_codes(self, flat: torch.Tensor) -> torch.Tensor:
        """Content ids ``[B, num_content_tokens]`` (scales concatenated) -> quantised latents ``[B, D, side, side]``."""
        B, z_hat, offset = flat.shape[0], None, 0
        for s in self._scales:
            q = self.codebook.lookup(flat[:, offset:offset + s * s]).view(B, s, s, self.code_dim).permute(0, 3, 1, 2)
            up = self._upsample(q, self.side)
            z_hat = up if z_hat is None else z_hat + up
            offset += s * s
        assert z_hat is not None
        return z_hat

    def _pixels_float(self, flat: torch.Tensor) -> torch.Tensor:
        """Content ids ``[B, n]`` -> pixels ``[B, C, H, W]`` in ``[0, max_value]``, not rounded."""
        x = self.decoder(self._latents_from_codes(flat))
        return (x.clamp(-1.0, 1.0) + 1.0) * 0.5 * self.max_value

    def _pixels_from_codes(self, flat: torch.Tensor) -> torch.Tensor:
        return torch.round(self._pixels_float(flat))

    # -- the Tokenizer protocol ------------------------------------------------------------
    @torch.no_grad()
    def codes(self, items: Sequence[Any]) -> torch.Tensor:
        """Content ids ``LongTensor[B, num_content_tokens]`` of images, scales concatenated coarse to fine."""
        _, ids, _ = self._quantise(self.encoder(self._tensor(items)))
        return torch.cat([i.flatten(1) for i in ids], dim=1)

    def encode(self, item: Any) -> list[int]:
        prefix = self._layout.prefix(item)
        if prefix is not None and not isinstance(item, Image):
            return prefix
        return (prefix or []) + self.codes([item])[0].tolist()

    @torch.no_grad()
    def decode(self, ids: Sequence[int]) -> Image:
        """An :class:`Image`; missing codes count as code 0 and extra ones are dropped."""
        label, content = self._layout.split(ids)
        flat = torch.zeros(1, self.num_content_tokens, dtype=torch.long)
        n = min(len(content), self.num_content_tokens)
        flat[0, :n] = torch.tensor(content[:n], dtype=torch.long)
        return self._image(self._pixels_from_codes(flat)[0], label)

    def encode_maps(self, item: Any) -> list[torch.Tensor]:
        """The token maps of one image, one ``LongTensor[s, s]`` per scale (next-scale training targets)."""
        flat, out, offset = self.codes([item])[0], [], 0
        for s in self._scales:
            out.append(flat[offset:offset + s * s].view(s, s))
            offset += s * s
        return out

    def decode_maps(self, maps: Sequence[torch.Tensor]) -> Image:
        """An :class:`Image` from one token map per scale (one row of what :func:`arkit.generate_next_scale` returns)."""
        return self.decode_batch([torch.as_tensor(m)[None] for m in maps])[0]

    @torch.no_grad()
    def decode_batch(self, maps: Sequence[torch.Tensor]) -> list[Image]:
        """Images from batched token maps, ``maps[k]``: ``LongTensor[B, s_k, s_k]`` (:func:`arkit.generate_next_scale`'s
        output), in one decoder pass."""
        if len(maps) != len(self._scales):
            raise arkit.InputError(f"expected {len(self._scales)} token maps (scales {self._scales}), got {len(maps)}")
        try:
            flat = torch.cat([torch.as_tensor(m, dtype=torch.long).flatten(1) for m in maps], dim=1)
        except RuntimeError:
            raise arkit.InputError("token maps must share the batch size") from None
        if flat.shape[1] != self.num_content_tokens or int(flat.min()) < 0 or int(flat.max()) >= self.codebook_size:
            raise arkit.InputError(f"token maps must hold codebook ids in [0, {self.codebook_size}) with sides {self._scales}")
        return [self._image(pixels, None) for pixels in self._pixels_from_codes(flat)]

    # -- learning --------------------------------------------------------------------------
    def fit(self, items: Sequence[Any], *, steps: int | None = None, batch_size: int = 128, lr: float = 2e-3,
            beta: float = 0.25, progress: bool = False) -> FitReport:
        """Learn encoder, decoder and codebook on ``items`` (images; labels are ignored)."""
        from tqdm.auto import tqdm

        images = [item for item in items if not (isinstance(item, tuple) and len(item) == 2)]
        if not images:
            raise arkit.InputError("vq tokenizer fit needs images (arkit_vision.Image or pixel arrays), got none")
        x_all = self._tensor(images)
        steps = self.fit_steps if steps is None else _positive("steps", steps)
        generator = torch.Generator().manual_seed(self.seed)
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        optimiser = torch.optim.Adam(params, lr=lr)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps, eta_min=lr * 0.1)
        restarts = 0
        self.train()
        with torch.no_grad():
            _, _, targets = self._quantise(self.encoder(x_all[torch.randperm(len(x_all), generator=generator)[:512]]))
            self.codebook.initialise(torch.cat(targets), generator)
        for step in tqdm(range(steps), desc="fitting vq tokenizer", disable=not progress):
            x = x_all[torch.randint(0, len(x_all), (batch_size,), generator=generator)]
            z = self.encoder(x)
            z_hat, ids, targets = self._quantise(z)
            recon = self.decoder(z + (z_hat - z).detach())  # straight-through
            loss = F.mse_loss(recon, x) + beta * F.mse_loss(z, z_hat.detach())
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            flat_targets = torch.cat([t.detach() for t in targets])
            self.codebook.update(flat_targets, torch.cat([i.flatten() for i in ids]))
            if step % 10 == 9 and step < steps * 0.8:
                expected = flat_targets.shape[0] / self.codebook_size
                restarts += self.codebook.restart_dead(flat_targets, 0.05 * expected, generator)
        self.fitted_flag.fill_(True)
        self.eval()
        return FitReport(steps=steps, mse=self.reconstruction_error(images), usage=self.codebook_usage(images),
                         restarts=restarts)

    # -- diagnostics -----------------------------------------------------------------------
    @torch.no_grad()
    def reconstruction_error(self, items: Sequence[Any]) -> float:
        """Mean squared error of ``decode(encode(x))`` with pixels scaled to [0, 1]."""
        x = self._tensor(items)
        recon = self._pixels_from_codes(self.codes(items)) / self.max_value
        return float(F.mse_loss(recon, (x + 1.0) * 0.5))

    @torch.no_grad()
    def codebook_usage(self, items: Sequence[Any]) -> float:
        """Share of codebook entries that encode at least one cell of ``items``."""
        return float(torch.unique(self.codes(items)).numel() / self.codebook_size)

    def neighbours(self, k: int = 4) -> list[list[int]]:
        """For each id, the ``k`` closest codebook entries (Euclidean), closest first; none for other ids.
        LANTERN's latent neighbourhoods (``arkit.create("acceptance", "core/lantern", neighbours=...)``)."""
        embed = self.codebook.embed.detach()
        d = torch.cdist(embed, embed)
        d.fill_diagonal_(float("inf"))
        near = d.argsort(dim=1)[:, :k].tolist()
        return near + [[] for _ in range(self.vocab_size - self.codebook_size)]

    # -- export ----------------------------------------------------------------------------
    def onnx_graphs(self) -> dict[str, Any]:
        """``"decode"``: ``codes [B, side, side]`` int64 -> ``images [B, C, H, W]`` (arkit.onnx.export writes it)."""
        from arkit.onnx import TokenizerGraph

        codes = torch.randint(0, self.codebook_size, (2, self.side, self.side), generator=torch.Generator().manual_seed(0))
        return {"decode": TokenizerGraph(module=_DecodeGraph(self), inputs={"codes": codes}, outputs=["images"],
                                         dynamic={"codes": {0: "batch"}}, atol=1e-3)}
