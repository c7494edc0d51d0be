"""Blind denoising: Gaussian noise of sigma 0-50, Poisson (shot) noise and JPEG artefacts.

The network sees the noisy image plus a noise-level map (FFDNet, Zhang et al. 2018): the map
holds sigma/50 where the level is known and -1 where it is not. Half of the Gaussian training
pairs carry their true level, the rest (and every Poisson or JPEG pair) say "unknown", so one
model works blind and also uses a level a user knows (``--noise-level``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data.degradations import gaussian_noise, jpeg, poisson_noise
from ..data.degradations.util import chance, uniform
from ..runtime import Runner
from .base import EnhanceTool, InferenceOptions, Progress, register_tool, tiled, to_signed

MAX_SIGMA = 50.0  # on 0..255
UNKNOWN = -1.0  # the level map's value for "blind"


def level_map(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Append the noise-level channel to ``x`` (B, 3, H, W): ``level`` (B,) already coded
    (sigma/50, or -1 for unknown)."""
    b, _, h, w = x.shape
    return torch.cat([x, level.to(x).view(b, 1, 1, 1).expand(b, 1, h, w)], 1)


def code_level(sigma: float | None) -> float:
    """A user's sigma on 0..255 (None: unknown) -> the level map's value."""
    return UNKNOWN if sigma is None else float(sigma) / MAX_SIGMA


@register_tool
class Denoise(EnhanceTool):
    name = "denoise"
    summary = "blind denoising: removes Gaussian (sigma 0-50), Poisson and JPEG noise; takes an optional known sigma"
    options = ("noise_level",)

    def channels(self) -> tuple[int, int]:
        return 4, 3

    def make_pair(self, clean: torch.Tensor, gen: torch.Generator, *, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = clean.shape[0]
        kind = torch.rand(n, generator=gen, dtype=torch.float64)  # < .7 Gaussian, < .85 Poisson, else JPEG
        sigma = uniform(gen, n, 0.0, MAX_SIGMA / 255)
        grey = chance(gen, n, 0.2)
        noisy = gaussian_noise(clean, sigma, gen, grey=grey).clamp(0, 1)
        gaussian = (kind < 0.7).view(-1, 1, 1, 1)
        poisson = poisson_noise(clean, uniform(gen, n, 0.1, 4.0), gen).clamp(0, 1)
        compressed = jpeg(gaussian_noise(clean, uniform(gen, n, 0, 5 / 255), gen).clamp(0, 1),
                          uniform(gen, n, 15, 85).round())
        noisy = torch.where(gaussian, noisy, torch.where((kind < 0.85).view(-1, 1, 1, 1), poisson, compressed))
        noisy = noisy.mul(255).round().div(255)  # an 8-bit photo
        known = (kind < 0.7) & chance(gen, n, 0.5)
        level = torch.where(known, sigma * 255 / MAX_SIGMA, torch.full_like(sigma, UNKNOWN)).float()
        return level_map(to_signed(noisy), level), to_signed(clean)

    def infer(self, runner: Runner, pixels: np.ndarray, *, scale: int, options: InferenceOptions,
              progress: Progress = None) -> np.ndarray:
        value = torch.tensor([code_level(options.noise_level)])
        return tiled(runner, pixels, scale=scale, options=options, progress=progress,
                     extra=lambda x: level_map(x, value))
