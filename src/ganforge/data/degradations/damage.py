"""Old-photo damage: faded colours, scratches and dust."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

from .util import chance, uniform

# Colour casts of aged prints (RGB multipliers): yellowed, sepia, magenta-shifted, cyan-shifted.
CASTS = torch.tensor([[1.0, 0.95, 0.75], [1.0, 0.85, 0.65], [1.0, 0.88, 0.95], [0.85, 0.97, 1.0]])


def fade(x: torch.Tensor, gen: torch.Generator, *, strength: tuple[float, float] = (0.2, 0.7)) -> torch.Tensor:
    """Fading of an old print: less saturation and contrast, a lifted black level and a colour
    cast, all scaled by ``strength`` (uniform per image; 0 leaves the image unchanged)."""
    n, c = x.shape[:2]
    s = uniform(gen, n, *strength).float().to(x).view(n, 1, 1, 1)
    cast = CASTS[torch.randint(len(CASTS), (n,), generator=gen)].to(x)[:, :c].view(n, c, 1, 1)
    grey = x.mean(1, keepdim=True)
    y = x + (grey - x) * s * 0.8  # desaturate
    mean = y.mean((1, 2, 3), keepdim=True)
    y = mean + (y - mean) * (1 - 0.5 * s)  # flatten contrast
    y = y * (1 - s + s * cast)  # colour cast
    return (y * (1 - 0.25 * s) + 0.25 * s * 0.9).clamp(0, 1)  # lift the blacks


def _draw_mask(h: int, w: int, rng: np.random.Generator, lines: int, specks: int) -> np.ndarray:
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    for _ in range(lines):  # long thin scratches, mostly near-vertical like film scratches
        x0, y0 = rng.uniform(0, w), rng.uniform(0, h)
        angle = rng.normal(math.pi / 2, 0.5) if rng.random() < 0.6 else rng.uniform(0, math.pi)
        length = rng.uniform(0.2, 1.0) * max(h, w)
        pts = [(x0, y0)]
        for _ in range(4):  # a gently wandering polyline
            angle += rng.normal(0, 0.15)
            x0, y0 = x0 + math.cos(angle) * length / 4, y0 + math.sin(angle) * length / 4
            pts.append((x0, y0))
        draw.line(pts, fill=int(rng.uniform(120, 255)), width=int(rng.integers(1, 3)))
    for _ in range(specks):  # dust: small round specks
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.4, 2.0)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=int(rng.uniform(150, 255)))
    return np.asarray(mask, dtype=np.float32) / 255.0


def _mark(x: torch.Tensor, gen: torch.Generator, lines: tuple[int, int], specks: tuple[int, int]) -> torch.Tensor:
    n, _, h, w = x.shape
    out = x.clone()
    for i in range(n):
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
        m = torch.from_numpy(_draw_mask(h, w, rng, int(rng.integers(*lines, endpoint=True)),
                                        int(rng.integers(*specks, endpoint=True)))).to(x)
        bright = rng.random() < 0.7  # scratches on prints are mostly light, on negatives dark
        colour = float(rng.uniform(0.85, 1.0)) if bright else float(rng.uniform(0.0, 0.15))
        out[i] = x[i] * (1 - m) + colour * m
    return out


def scratches(x: torch.Tensor, gen: torch.Generator, *, count: tuple[int, int] = (1, 6)) -> torch.Tensor:
    """Thin light or dark scratches (wandering lines) across each image."""
    return _mark(x, gen, count, (0, 0))


def dust(x: torch.Tensor, gen: torch.Generator, *, count: tuple[int, int] = (5, 40)) -> torch.Tensor:
    """Specks of dust (small round marks) on each image."""
    return _mark(x, gen, (0, 0), count)


def some(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, p: float) -> torch.Tensor:
    """``y`` for a random share ``p`` of the images, ``x`` for the rest."""
    pick = chance(gen, x.shape[0], p).view(-1, 1, 1, 1).to(x.device)
    return torch.where(pick, y, x)
