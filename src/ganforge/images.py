"""Turning generator output into pictures: uint8 conversion, grids, 2D scatter plots."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .fileio import atomic_write_bytes


def to_uint8_tensor(images: torch.Tensor) -> torch.Tensor:
    """Float images (N, C, H, W) in [-1, 1] -> uint8 (N, C, H, W), rounded to nearest."""
    return images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Float images (N, C, H, W) in [-1, 1] -> uint8 (N, H, W, C), rounded to nearest."""
    return to_uint8_tensor(images).permute(0, 2, 3, 1).cpu().numpy()


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """(N, 1, H, W) grey images repeated to ``channels`` (a view); others unchanged. For showing
    or comparing a grey source beside colour images."""
    return images.expand(-1, channels, -1, -1) if images.shape[1] == 1 and channels != 1 else images


def make_grid(images: np.ndarray, ncols: int, pad: int = 2, fill: int = 255) -> np.ndarray:
    """Tile uint8 (N, H, W, C) images row by row into one (rows*H', ncols*W', C) picture."""
    n, h, w, c = images.shape
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    grid = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), fill, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[y : y + h, x : x + w] = images[i]
    return grid


def encode_png(array: np.ndarray) -> bytes:
    """uint8 (H, W, C) with C in {1, 3} -> PNG bytes."""
    img = Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def save_png(array: np.ndarray, path: Path, *, upscale: int = 1) -> None:
    """Write a uint8 picture as PNG atomically, optionally enlarged (nearest) for viewing."""
    if upscale > 1:
        array = array.repeat(upscale, axis=0).repeat(upscale, axis=1)
    atomic_write_bytes(Path(path), encode_png(array))


def scatter_png(points: np.ndarray, reference: np.ndarray | None = None, *, size: int = 512) -> np.ndarray:
    """Plot 2D points (red) over reference points (grey) -> uint8 (size, size, 3).

    The view is fitted to the reference (or the points) with a 10% margin, so a generator
    that wanders off shows up at the edge rather than shrinking the picture.
    """
    base = reference if reference is not None and len(reference) else points
    lo, hi = base.min(axis=0), base.max(axis=0)
    span = np.maximum(hi - lo, 1e-6)
    lo, hi = lo - 0.1 * span, hi + 0.1 * span
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)

    def plot(p: np.ndarray, colour: tuple[int, int, int]) -> None:
        xy = (p - lo) / (hi - lo) * (size - 1)
        xy = np.clip(xy, 0, size - 1)
        for x, y in xy:
            draw.point((float(x), float(size - 1 - y)), fill=colour)

    if reference is not None:
        plot(reference, (170, 170, 170))
    plot(points, (200, 30, 30))
    return np.asarray(img)


# --- CIE Lab (D65), for colorization ------------------------------------------------------
# sRGB -> XYZ (IEC 61966-2-1) and the D65 white point; Lab per CIE 1976.
_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_D65 = torch.tensor([0.950456, 1.0, 1.088754])
_LAB_EPS = 216 / 24389  # (6/29)^3


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> CIE Lab (B, 3, H, W): L in [0, 100], a and b about [-110, 110]."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).clamp_min(0) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,bjhw->bihw", _RGB_TO_XYZ.to(rgb), lin) / _D65.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _LAB_EPS, xyz.clamp_min(_LAB_EPS) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    return torch.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """CIE Lab (B, 3, H, W) -> sRGB (B, 3, H, W) clamped to [0, 1] (the inverse of :func:`rgb_to_lab`)."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], 1)
    xyz = torch.where(f ** 3 > _LAB_EPS, f ** 3, (116 * f - 16) * 27 / 24389) * _D65.to(lab).view(1, 3, 1, 1)
    lin = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab), xyz).clamp(0, 1)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * lin).clamp(0, 1)
