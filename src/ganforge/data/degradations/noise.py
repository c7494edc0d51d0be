"""Sensor noise: additive Gaussian (colour or grey) and Poisson (shot) noise."""

from __future__ import annotations

import torch

from .util import chance, uniform


def gaussian_noise(x: torch.Tensor, sigma: torch.Tensor, gen: torch.Generator, *, grey: torch.Tensor | None = None) -> torch.Tensor:
    """Add N(0, sigma^2) noise, ``sigma`` (B,) in [0, 1] units (sigma 25 on 0..255 is 25/255);
    images with ``grey`` True get the same noise in every channel (luminance noise).
    Not clamped: the caller decides (a benchmark adds noise exactly as published, then clips)."""
    b, c, h, w = x.shape
    n = torch.randn(x.shape, generator=gen, dtype=torch.float32).to(x)
    if grey is not None and c > 1:
        n = torch.where(grey.view(b, 1, 1, 1).to(x.device), n[:, :1].expand_as(n), n)
    return x + n * sigma.to(x).view(b, 1, 1, 1)


def poisson_noise(x: torch.Tensor, scale: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Shot noise: photon counts ``Poisson(x * peak) / peak`` with ``peak = 255 / scale``
    (larger ``scale``, (B,), means fewer photons and more noise)."""
    peak = (255.0 / scale.clamp_min(1e-3)).to(x).view(-1, 1, 1, 1)
    counts = torch.poisson((x.clamp(0, 1) * peak).cpu().float(), generator=gen).to(x)
    return counts / peak


def random_noise(x: torch.Tensor, gen: torch.Generator, *, sigma: tuple[float, float] = (1 / 255, 30 / 255),
                 poisson: tuple[float, float] = (0.05, 3.0), p_poisson: float = 0.4, p_grey: float = 0.4) -> torch.Tensor:
    """Gaussian noise with sigma uniform in ``sigma`` or, with probability ``p_poisson``, Poisson
    noise with scale uniform in ``poisson``; grey noise with probability ``p_grey``. Clamped to [0, 1]."""
    n = x.shape[0]
    use_poisson = chance(gen, n, p_poisson)
    grey = chance(gen, n, p_grey)
    sig = uniform(gen, n, *sigma)
    sc = uniform(gen, n, *poisson)
    g = gaussian_noise(x, sig, gen, grey=grey)
    if bool(use_poisson.any()):
        p = poisson_noise(x, sc, gen)
        g = torch.where(use_poisson.view(-1, 1, 1, 1).to(x.device), p, g)
    return g.clamp(0, 1)
