"""Unpaired data sets for unpaired translation (CycleGAN): two image sets, no pairs.

Each returns an :class:`~ganforge.data.UnpairedDataset` of uint8 ``a (N_A, C, R, R)`` and
``b (N_B, C, R, R)`` with ``R = data.resolution`` and ``C = data.channels``.

``shapes-unpaired`` needs no files: side A holds 1 to 3 flat-coloured circles, rectangles and
triangles on a light background (the ``shapes-edges`` targets, :func:`~.paired.draw_shapes`),
side B the same kind of shapes drawn from another seed and filled with diagonal hatching (every
other stripe lightened halfway to white). Translating A -> B means adding the hatching, B -> A
removing it, and the shapes themselves stay: what a style model does to a photo, in miniature.
Each side and split draws its images in order from its own seeded stream, so image ``i`` is the
same whatever ``limit`` is, and no two sides or splits share a seed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .base import UnpairedDataset, register_dataset
from .paired import _CHUNK_PIXELS, _PER_IMAGE, MAX_SHAPES, _luma, draw_shapes

if TYPE_CHECKING:
    from ..config import DataConfig

SHAPES_UNPAIRED_SIZES = {"train": 1_000, "test": 200}  # images per side
SHAPES_UNPAIRED_SEEDS = {("train", "a"): 20_170_101, ("train", "b"): 20_170_102,
                         ("test", "a"): 20_170_103, ("test", "b"): 20_170_104}
HATCH_PERIOD = 1 / 8  # one light and one dark stripe per this fraction of the image side
HATCH_LIGHTEN = 0.5  # light stripes move this far towards white


@register_dataset("shapes-unpaired", batch="unpaired", splits=("train", "test"),
                  about="synthetic: flat-coloured shapes (A) and hatched shapes (B), unpaired")
def build_shapes_unpaired(cfg: "DataConfig") -> UnpairedDataset:
    """Synthetic unpaired shapes: 1,000 train or 200 test images per side (fewer with ``limit``)."""
    count = SHAPES_UNPAIRED_SIZES[cfg.split]
    if cfg.limit is not None:
        count = min(count, cfg.limit)
    sides = {}
    for side in ("a", "b"):
        rgb, label = _draw(np.random.default_rng(SHAPES_UNPAIRED_SEEDS[cfg.split, side]).random((count, _PER_IMAGE)),
                           cfg.resolution)
        if side == "b":
            rgb = hatch(rgb, label)
        sides[side] = torch.from_numpy(np.ascontiguousarray(rgb if cfg.channels == 3 else _luma(rgb)))
    names = [f"{cfg.split}-{i:05d}" for i in range(count)]
    return UnpairedDataset(name="shapes-unpaired", a=sides["a"], b=sides["b"],
                           names_a=[f"a-{n}" for n in names], names_b=[f"b-{n}" for n in names])


def _draw(params: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`draw_shapes` in chunks that bound the masks' memory."""
    chunk = max(1, _CHUNK_PIXELS // (MAX_SHAPES * res * res))
    parts = [draw_shapes(params[i : i + chunk], res) for i in range(0, len(params), chunk)]
    if not parts:
        return np.zeros((0, 3, res, res), np.uint8), np.zeros((0, res, res), np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def hatch(rgb: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Diagonal hatching inside every shape: uint8 ``(N, 3, R, R)`` and labels ``(N, R, R)`` ->
    uint8 ``(N, 3, R, R)``, every other stripe of width ``HATCH_PERIOD / 2`` of the side lightened
    by ``HATCH_LIGHTEN`` towards white; the background is left as it is."""
    res = rgb.shape[-1]
    stripe = max(1, round(res * HATCH_PERIOD / 2))
    y, x = np.mgrid[0:res, 0:res]
    light = ((x + y) // stripe) % 2 == 1  # (R, R)
    mask = (label > 0) & light[None]  # (N, R, R)
    out = rgb.astype(np.float32)
    out = np.where(mask[:, None], out + HATCH_LIGHTEN * (255 - out), out)
    return np.rint(out).astype(np.uint8)
