"""Colour transfer (Reinhard, Ashikhmin, Gooch and Shirley 2001) and the small filters compositing needs.

Reinhard et al. move an image's colours toward a reference's by matching each channel's mean
and standard deviation in a decorrelated colour space (their eq. 10)::

    l' = (sigma_ref / sigma_src) (l - mu_src) + mu_ref

They used l-alpha-beta; here it is CIE Lab (``images.rgb_to_lab``, the colorizer's conversion),
whose channels are about as decorrelated for natural images. ``strength`` in 0..1 moves the
target statistics only part of the way (0: unchanged, 1: the reference's), so a subject takes
the background's light and cast without losing its own colours. The statistics are weighted:
the subject's by its alpha, the background's by how much of it the subject leaves visible.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..images import lab_to_rgb, rgb_to_lab

MAX_STD_RATIO = 3.0  # a flat subject (sigma ~ 0) is not blown up into noise


def weighted_stats(values: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of (C, H, W) ``values`` weighted by (H, W) ``weight``."""
    w = weight.double()
    total = w.sum().clamp_min(1e-12)
    mean = (values.double() * w).sum(dim=(-2, -1)) / total
    var = ((values.double() - mean[:, None, None]) ** 2 * w).sum(dim=(-2, -1)) / total
    return mean.to(values.dtype), var.sqrt().to(values.dtype)


def transfer_colour(rgb: torch.Tensor, weight: torch.Tensor, reference: torch.Tensor, reference_weight: torch.Tensor,
                    strength: float) -> torch.Tensor:
    """``rgb`` (3, H, W) in 0..1 with its colour statistics moved toward ``reference``'s (3, H', W')
    by ``strength`` (0..1), both weighted by (H, W) / (H', W') masks; the result in 0..1."""
    if strength <= 0 or float(weight.sum()) <= 0 or float(reference_weight.sum()) <= 0:
        return rgb
    lab = rgb_to_lab(rgb[None].float())[0]
    mu_s, sd_s = weighted_stats(lab, weight)
    mu_r, sd_r = weighted_stats(rgb_to_lab(reference[None].float())[0], reference_weight)
    mu_t = mu_s + strength * (mu_r - mu_s)
    sd_t = sd_s + strength * (sd_r - sd_s)
    ratio = (sd_t / sd_s.clamp_min(1e-6)).clamp(1 / MAX_STD_RATIO, MAX_STD_RATIO)
    moved = (lab - mu_s[:, None, None]) * ratio[:, None, None] + mu_t[:, None, None]
    return lab_to_rgb(moved[None])[0].to(rgb.dtype)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(C, H, W) or (H, W) blurred by a Gaussian of ``sigma`` pixels (separable, zero beyond the edge)."""
    if sigma <= 0:
        return x
    flat = x[None] if x.ndim == 3 else x[None, None]
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(x.dtype)
    c = flat.shape[1]
    out = F.conv2d(flat, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, radius), groups=c)
    out = F.conv2d(out, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(radius, 0), groups=c)
    return out[0] if x.ndim == 3 else out[0, 0]


def box3(x: torch.Tensor) -> torch.Tensor:
    """Sum over each pixel's 3 x 3 neighbourhood of (C, H, W) ``x`` (zero beyond the edge)."""
    c = x.shape[0]
    return F.conv2d(x[None], torch.ones(c, 1, 3, 3, dtype=x.dtype), padding=1, groups=c)[0]
