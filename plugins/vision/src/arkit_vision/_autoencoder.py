"""The small convolutional encoder and decoder of the VQ tokenizers (private)."""

from __future__ import annotations

from torch import nn


def _encoder(channels: int, hidden: int, code_dim: int, downsample: int) -> nn.Sequential:
    """``[B, C, H, W] -> [B, code_dim, H / 2^downsample, W / 2^downsample]``."""
    layers: list[nn.Module] = [nn.Conv2d(channels, hidden, 3, padding=1), nn.SiLU()]
    for _ in range(downsample):
        layers += [nn.Conv2d(hidden, hidden, 4, stride=2, padding=1), nn.SiLU()]
    layers += [nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU(), nn.Conv2d(hidden, code_dim, 1)]
    return nn.Sequential(*layers)


def _decoder(channels: int, hidden: int, code_dim: int, downsample: int) -> nn.Sequential:
    """The mirror of :func:`_encoder`: ``[B, code_dim, h, w] -> [B, C, h * 2^downsample, w * 2^downsample]``."""
    layers: list[nn.Module] = [nn.Conv2d(code_dim, hidden, 3, padding=1), nn.SiLU(),
                               nn.Conv2d(hidden, hidden, 3, padding=1), nn.SiLU()]
    for _ in range(downsample):
        layers += [nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1), nn.SiLU()]
    layers += [nn.Conv2d(hidden, channels, 3, padding=1)]
    return nn.Sequential(*layers)
