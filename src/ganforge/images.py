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
