"""Resizing with random kernels: the downscaling a photo went through is rarely known."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .util import uniform

MODES = ("area", "bilinear", "bicubic")


def resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """``x`` (B, C, H, W) to ``size`` (h, w). Downscaling is antialiased (bilinear and bicubic
    match Pillow's filters), so ``mode="bicubic"`` is the classic super-resolution input."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area").clamp(0, 1)
    down = size[0] < x.shape[-2]
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=down).clamp(0, 1)


def random_resize(x: torch.Tensor, gen: torch.Generator, *, factor: tuple[float, float]) -> torch.Tensor:
    """Resize the whole batch by one factor uniform in ``factor`` with a random kernel (Real-ESRGAN's
    "resize" step: up, down or keep). One factor per batch keeps the batch one tensor."""
    f = float(uniform(gen, 1, *factor)[0])
    mode = MODES[int(torch.randint(len(MODES), (1,), generator=gen))]
    h, w = x.shape[-2:]
    return resize(x, (max(4, round(h * f)), max(4, round(w * f))), mode)
