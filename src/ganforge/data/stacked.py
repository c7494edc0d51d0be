"""Stacked Fashion-MNIST: three Fashion-MNIST images as the three channels of one image.

The Fashion-MNIST counterpart of Stacked MNIST (Metz et al. 2017, "Unrolled GANs"; used by
VEEGAN and PacGAN): each channel shows one of 10 classes, so the data has 10^3 = 1,000
modes, one per (red, green, blue) class triple, all equally likely. A generator that
collapses misses some triples; :func:`ganforge.metrics.stats.stacked_mode_metrics` counts
them by classifying each channel separately.

The label of an image is its mode, ``100 * c_red + 10 * c_green + c_blue`` (0..999), named
``"red/green/blue"`` (for example ``"bag/sneaker/trouser"``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import GanforgeError
from .base import Dataset, register_dataset
from .fashion import FASHION_CLASSES, load_fashion_mnist
from .transforms import resize_uint8

if TYPE_CHECKING:
    from ..config import DataConfig

STACKED_MODES = len(FASHION_CLASSES) ** 3
# Default size: as many stacked images as the split has single images.
# The train split is composed with generator seed 0 and the test split with seed 1.
STACKED_SEEDS = {"train": 0, "test": 1}


def stacked_mode_names() -> list[str]:
    """The 1,000 mode names, index ``100 * r + 10 * g + b`` -> ``"r/g/b"``."""
    k = len(FASHION_CLASSES)
    return [f"{FASHION_CLASSES[i // (k * k)]}/{FASHION_CLASSES[(i // k) % k]}/{FASHION_CLASSES[i % k]}"
            for i in range(k ** 3)]


def mode_index(channel_classes: torch.Tensor) -> torch.Tensor:
    """``(N, 3)`` per-channel classes -> ``(N,)`` mode index ``100 r + 10 g + b``."""
    k = len(FASHION_CLASSES)
    c = channel_classes.long()
    return c[:, 0] * k * k + c[:, 1] * k + c[:, 2]


@register_dataset("stacked-fashion-mnist", splits=("train", "test"), features="fashion-cnn-channels", modes="stacked")
def build_stacked_fashion_mnist(cfg: "DataConfig") -> Dataset:
    """uint8 ``(N, 3, resolution, resolution)``; each channel an independent random Fashion-MNIST image.

    N is ``data.limit`` or the size of the split. The composition is fixed per split (seeded),
    so every run and every evaluation sees the same images. ``data.channels`` must be 3.
    """
    if cfg.channels != 3:
        raise GanforgeError("stacked-fashion-mnist has 3 channels (one Fashion-MNIST image each); set data.channels=3")
    images, labels = load_fashion_mnist(cfg.split, root=cfg.path)
    n = cfg.limit or len(images)
    gen = torch.Generator().manual_seed(STACKED_SEEDS[cfg.split])
    picks = torch.randint(len(images), (n, 3), generator=gen)
    single = resize_uint8(images.unsqueeze(1), cfg.resolution)[:, 0]
    data = single[picks]  # (n, 3, H, W): channel j is image picks[:, j]
    return Dataset(
        name="stacked-fashion-mnist",
        data=data.contiguous(),
        labels=mode_index(labels[picks]),
        class_names=stacked_mode_names(),
    )
