"""Tensor transforms applied once, when a data set is loaded (never per training step)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Images resized per chunk: bounds the float32 working copy (4096 x 3 x 256 x 256 x 4 bytes
# is 3 GiB at the largest common size, about 50 MB for 1 x 32 x 32) while keeping the
# per-call overhead negligible.
RESIZE_CHUNK = 4096


def resize_uint8(images: torch.Tensor, size: int, *, chunk: int = RESIZE_CHUNK) -> torch.Tensor:
    """Resize a batch of uint8 images to ``size x size``.

    Args:
        images: uint8 ``(N, C, H, W)``.
        size: side of the square output.
        chunk: images converted to float at a time, to bound memory.

    Returns:
        uint8 ``(N, C, size, size)``; ``images`` itself when it is already that size.

    Bilinear with antialiasing (``align_corners=False``), so downscaling averages over the
    whole footprint like Pillow's resize instead of aliasing; the float result is rounded
    and clamped back to 0..255.
    """
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ValueError(f"expected uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        block = images[start : start + chunk].float()
        block = F.interpolate(block, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start : start + chunk] = block.round_().clamp_(0, 255).to(torch.uint8)
    return out
