"""Blur: isotropic and anisotropic Gaussian kernels (Real-ESRGAN, Wang et al. 2021, sec. 3.1)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .util import chance, uniform


def gaussian_kernel(sigma_x: float, sigma_y: float, theta: float, size: int) -> torch.Tensor:
    """A normalised 2D Gaussian ``(size, size)`` with standard deviations ``sigma_x, sigma_y``
    along axes rotated by ``theta`` radians: ``k(p) ~ exp(-1/2 p^T S^-1 p)``,
    ``S = R diag(sx^2, sy^2) R^T``."""
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    y, x = torch.meshgrid(r, r, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * x + s * y, -s * x + c * y
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def gaussian_blur(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Blur each image of ``x`` (B, C, H, W) with its own kernel ``kernels`` (B, k, k) (odd k),
    reflecting at the borders."""
    b, c, h, w = x.shape
    k = kernels.shape[-1]
    pad = k // 2
    if pad >= min(h, w):  # reflect needs the image larger than the padding
        return x
    weight = kernels.to(x).repeat_interleave(c, 0)[:, None]  # (B*C, 1, k, k)
    y = F.conv2d(F.pad(x.reshape(1, b * c, h, w), (pad,) * 4, mode="reflect"), weight, groups=b * c)
    return y.reshape(b, c, h, w)


def random_blur(x: torch.Tensor, gen: torch.Generator, *, sigma: tuple[float, float] = (0.2, 3.0),
                anisotropic: float = 0.5, size: int = 21, p: float = 1.0) -> torch.Tensor:
    """Gaussian blur with ``sigma`` uniform in the range, anisotropic (two sigmas, random angle)
    with probability ``anisotropic``; each image is blurred with probability ``p``."""
    n = x.shape[0]
    sx = uniform(gen, n, *sigma)
    sy = torch.where(chance(gen, n, anisotropic), uniform(gen, n, *sigma), sx)
    theta = uniform(gen, n, 0.0, math.pi)
    keep = ~chance(gen, n, p)
    kernels = torch.stack([gaussian_kernel(float(a), float(b), float(t), size) for a, b, t in zip(sx, sy, theta)])
    identity = torch.zeros(size, size)
    identity[size // 2, size // 2] = 1.0
    kernels[keep] = identity
    return gaussian_blur(x, kernels)
