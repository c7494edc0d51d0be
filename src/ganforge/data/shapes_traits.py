"""``shapes-traits``: one coloured shape per image, labelled with three traits (tests and examples).

The smallest data set with several traits, generated and seeded, so tests of multi-trait
conditioning need no files: ``shape`` (circle, square, triangle), ``colour`` (red, green, blue,
yellow) and ``size`` (small, large), each drawn uniformly and independently, on a light grey
background with the shape's centre jittered a little. Labels are int64 ``(N, 3)``, one column
per trait, and :attr:`Dataset.traits` names them. Image ``i`` of a split is the same whatever
``limit`` is, and the splits never share a seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..conditioning import Conditioning, Trait
from .base import Dataset, register_dataset

if TYPE_CHECKING:
    from ..config import DataConfig

SHAPES_TRAITS = Conditioning((
    Trait("shape", ("circle", "square", "triangle")),
    Trait("colour", ("red", "green", "blue", "yellow")),
    Trait("size", ("small", "large")),
))
SHAPES_TRAITS_SIZES = {"train": 1_000, "test": 200}
SHAPES_TRAITS_SEEDS = {"train": 20_240_001, "test": 20_240_002}
_RGB = np.array([(220, 40, 40), (40, 170, 60), (40, 70, 220), (230, 200, 30)], dtype=np.float32)  # per colour
_BACKGROUND = 235.0
_RADIUS = (0.2, 0.36)  # half the shape's extent, as a fraction of the side, per size
_JITTER = 0.08  # the centre moves up to this fraction of the side from the middle


@register_dataset("shapes-traits", splits=("train", "test"),
                  about="synthetic: one shape per image, traits shape, colour and size")
def build_shapes_traits(cfg: "DataConfig") -> Dataset:
    """Synthetic shapes with three traits: 1,000 train or 200 test images (fewer with ``limit``),
    uint8 ``(N, channels, R, R)`` (grey by ITU-R 601 luma when ``channels`` is 1)."""
    count = SHAPES_TRAITS_SIZES[cfg.split]
    if cfg.limit is not None:
        count = min(count, cfg.limit)
    rng = np.random.default_rng(SHAPES_TRAITS_SEEDS[cfg.split])
    draws = rng.random((SHAPES_TRAITS_SIZES[cfg.split], 5))[:count]  # a prefix: image i whatever the limit
    labels = np.stack([(draws[:, t] * k).astype(np.int64) for t, k in enumerate(SHAPES_TRAITS.sizes)], axis=1)
    centres = 0.5 + (draws[:, 3:5] * 2 - 1) * _JITTER
    rgb = draw_traits(labels, centres, cfg.resolution)
    if cfg.channels == 1:
        rgb = np.rint(rgb.astype(np.float32).transpose(0, 2, 3, 1) @ np.array([0.299, 0.587, 0.114]))[:, None]
        rgb = rgb.clip(0, 255).astype(np.uint8)
    return Dataset(name="shapes-traits", data=torch.from_numpy(np.ascontiguousarray(rgb)),
                   labels=torch.from_numpy(labels), traits=SHAPES_TRAITS)


def draw_traits(labels: np.ndarray, centres: np.ndarray, res: int) -> np.ndarray:
    """int ``(N, 3)`` labels (shape, colour, size) and ``(N, 2)`` centres (x, y, fractions of the
    side) -> uint8 ``(N, 3, R, R)``."""
    y, x = (np.mgrid[0:res, 0:res] + 0.5) / res  # pixel centres in (0, 1)
    dx = x[None] - centres[:, 0, None, None]  # (N, R, R)
    dy = y[None] - centres[:, 1, None, None]
    r = np.asarray(_RADIUS)[labels[:, 2]][:, None, None]
    shape = labels[:, 0, None, None]
    circle = dx**2 + dy**2 <= r**2
    square = (np.abs(dx) <= r * 0.85) & (np.abs(dy) <= r * 0.85)
    triangle = (dy <= r * 0.8) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.6)  # apex up
    mask = np.where(shape == 0, circle, np.where(shape == 1, square, triangle))  # (N, R, R)
    colour = _RGB[labels[:, 1]][:, :, None, None]  # (N, 3, 1, 1)
    out = np.where(mask[:, None], colour, np.float32(_BACKGROUND))
    return out.astype(np.uint8)
