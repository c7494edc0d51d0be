"""Super-resolution: a photo 2x or 4x larger with detail bicubic interpolation cannot make.

Training pairs follow the classic protocol (Dong et al. 2014, SRCNN; Lim et al. 2017, EDSR):
the low-resolution input is the clean crop downscaled by bicubic interpolation (antialiased,
as Pillow and MATLAB do), the target the crop itself.
"""

from __future__ import annotations

import torch

from ..data.degradations import resize
from .base import EnhanceTool, register_tool, to_signed


@register_tool
class Upscale(EnhanceTool):
    name = "upscale"
    summary = "super-resolution: makes a photo {scale}x larger, restoring detail bicubic interpolation blurs"
    scales = (2, 4)

    def make_pair(self, clean: torch.Tensor, gen: torch.Generator, *, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        h, w = clean.shape[-2:]
        low = resize(clean, (h // scale, w // scale), "bicubic")
        # Quantise like a stored 8-bit photo, so the model never relies on sub-level precision.
        low = low.mul(255).round().div(255)
        return to_signed(low), to_signed(clean)
