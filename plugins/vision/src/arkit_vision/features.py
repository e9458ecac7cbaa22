"""A small CNN feature space for the Frechet distance: trained on the same training images, shipped with the plugin.

Today's judge (:class:`~arkit_vision.metrics.ImageJudge`) is a one-hidden-layer MLP on raw pixels; its
64 features see intensity patterns but no local structure, so a broken stroke or a speckled background
costs little in them. :class:`CNNJudge` is a three-block convolutional classifier (conv 3 x 3, ReLU,
pooling) whose pooled penultimate activations are the features: local edges and strokes first, then
their layout. It is trained on the training images only (never valid or test) by :func:`train_cnn_judge`
and saved as float16 safetensors next to a JSON config (:meth:`CNNJudge.save`, :func:`load_cnn_judge`).

It has the same interface as :class:`~arkit_vision.metrics.ImageJudge`: ``predict``, ``accuracy``,
``features``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import arkit

from .image import Image

__all__ = ["CNNJudge", "load_cnn_judge", "train_cnn_judge"]


class CNNJudge(nn.Module):
    """Conv classifier on ``[N, C, H, W]`` pixels / ``max_value``; ``features`` are its pooled penultimate layer."""

    def __init__(self, *, image_size: int, channels: int, max_value: int, num_classes: int, width: int = 32,
                 feature_dim: int = 64) -> None:
        super().__init__()
        for name, value in (("image_size", image_size), ("channels", channels), ("max_value", max_value),
                            ("num_classes", num_classes), ("width", width), ("feature_dim", feature_dim)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise arkit.ConfigError(f"CNNJudge {name} must be an integer >= 1, got {value!r}")
        self.image_size, self.channels, self.max_value = image_size, channels, max_value
        self.num_classes, self.width, self.feature_dim = num_classes, width, feature_dim
        # 32 x 32 inputs are pooled to 16 x 16 first (the shapes are large and flat); 8 x 8 digits are not.
        self.pre_pool = 2 if image_size >= 16 else 1
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(2 * width, feature_dim), nn.ReLU(),
        )
        self.classifier = nn.Linear(feature_dim, num_classes)
        self.eval()

    @property
    def config(self) -> dict[str, int]:
        return {"image_size": self.image_size, "channels": self.channels, "max_value": self.max_value,
                "num_classes": self.num_classes, "width": self.width, "feature_dim": self.feature_dim}

    def _tensor(self, images: Sequence[Image] | np.ndarray) -> torch.Tensor:
        x = images if isinstance(images, np.ndarray) else np.stack([np.asarray(im.pixels) for im in images])
        x = torch.as_tensor(np.asarray(x, dtype=np.float32)) / self.max_value
        if x.dim() == 3:
            x = x[:, None]
        elif x.dim() == 4:
            x = x.permute(0, 3, 1, 2)
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, self.image_size, self.image_size):
            raise arkit.InputError(f"the CNN judge takes {self.image_size} x {self.image_size} images with "
                                   f"{self.channels} channel(s), got pixels of shape {tuple(x.shape)}")
        return F.avg_pool2d(x, self.pre_pool) if self.pre_pool > 1 else x

    def _forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    @torch.inference_mode()
    def features(self, images: Sequence[Image] | np.ndarray, *, batch_size: int = 256) -> np.ndarray:
        """Penultimate activations ``[N, feature_dim]`` (float64)."""
        x = self._tensor(images)
        return np.concatenate([self._forward_features(x[i:i + batch_size]).double().numpy()
                               for i in range(0, len(x), batch_size)]) if len(x) else np.zeros((0, self.feature_dim))

    @torch.inference_mode()
    def predict(self, images: Sequence[Image] | np.ndarray) -> np.ndarray:
        x = self._tensor(images)
        return self.classifier(self._forward_features(x)).argmax(-1).numpy()

    def accuracy(self, images: Sequence[Image], labels: Sequence[int] | None = None) -> float:
        """Share of images classified as their label (``labels`` or each image's own)."""
        truth = np.array(labels if labels is not None else [im.label for im in images])
        return float(np.mean(self.predict(images) == truth))

    def save(self, directory: str | os.PathLike[str]) -> Path:
        """``config.json`` and ``model.safetensors`` (float16) in ``directory`` (created)."""
        import safetensors.torch

        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        weights = {k: v.detach().to(torch.float16).contiguous() for k, v in self.state_dict().items()}
        tmp = path / "model.safetensors.tmp"
        safetensors.torch.save_file(weights, str(tmp))
        os.replace(tmp, path / "model.safetensors")
        (path / "config.json").write_text(json.dumps(self.config, indent=2) + "\n")
        return path


def load_cnn_judge(directory: str | os.PathLike[str]) -> CNNJudge:
    """A :class:`CNNJudge` saved by :meth:`CNNJudge.save`."""
    import safetensors.torch

    path = Path(directory)
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise arkit.CheckpointError(f"no CNN judge at {path}: expected config.json and model.safetensors "
                                    "(rebuild it with plugins/vision/scripts/pretrain.py --stages judges)")
    config: Mapping[str, Any] = json.loads((path / "config.json").read_text())
    judge = CNNJudge(**config)
    weights = safetensors.torch.load_file(str(path / "model.safetensors"))
    judge.load_state_dict({k: v.float() for k, v in weights.items()})
    return judge.eval()


def train_cnn_judge(images: Sequence[Image], *, image_size: int, channels: int, max_value: int, num_classes: int,
                    steps: int = 600, batch_size: int = 64, lr: float = 2e-3, seed: int = 0,
                    log: Any = None) -> CNNJudge:
    """Train a :class:`CNNJudge` on labelled ``images`` (Adam, cross-entropy, random 1-pixel shifts);
    ``log(step, loss)`` is called every 50 steps when given."""
    if not images or any(im.label is None for im in images):
        raise arkit.InputError("a CNN judge is trained on labelled images; got none or some without a label")
    torch.manual_seed(seed)
    judge = CNNJudge(image_size=image_size, channels=channels, max_value=max_value, num_classes=num_classes)
    x_all = judge._tensor(images)
    y_all = torch.tensor([im.label for im in images])
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(judge.parameters(), lr=lr)
    judge.train()
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(x_all), (batch_size,), generator=generator)
        x = x_all[idx]
        shift = torch.randint(-1, 2, (2,), generator=generator).tolist()
        x = torch.roll(x, shifts=shift, dims=(2, 3))
        loss = F.cross_entropy(judge.classifier(judge.body(x)), y_all[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if log is not None and step % 50 == 0:
            log(step, loss.item())
    return judge.eval()
