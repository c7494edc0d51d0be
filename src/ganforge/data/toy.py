"""2D Gaussian mixtures for mode-collapse studies.

``ring8``: 8 modes evenly spaced on the unit circle; ``grid25``: 25 modes on the grid
{-4, -2, 0, 2, 4}^2 (the two benchmarks of Metz et al. 2017, "Unrolled GANs", and
Srivastava et al. 2017, "VEEGAN", here at unit radius and spacing 2). Each mode is an
isotropic Gaussian with standard deviation ``sigma``, and modes are equally likely, so a
generator that covers all modes puts about ``1/K`` of its samples near each mean.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable

import torch

from ..errors import GanforgeError
from .base import Dataset, register_dataset

if TYPE_CHECKING:
    from ..config import DataConfig

RING8_SIGMA = 0.01
GRID25_SIGMA = 0.05

# The train split is drawn with generator seed 0 and the test split with seed 1: every run
# sees the same points, and the test points are an independent draw from the same mixture.
TOY_SEEDS = {"train": 0, "test": 1}


def ring8_means() -> torch.Tensor:
    """float32 ``(8, 2)``: ``(cos a_k, sin a_k)`` with ``a_k = 2 pi k / 8``."""
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return torch.stack([angles.cos(), angles.sin()], dim=1).float()


def grid25_means() -> torch.Tensor:
    """float32 ``(25, 2)``: every ``(x, y)`` in {-4, -2, 0, 2, 4}^2, x-major order."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)


def toy_mixture(name: str) -> tuple[torch.Tensor, float]:
    """``(means (K, 2), sigma)`` of the toy data set ``name`` (``"ring8"`` or ``"grid25"``)."""
    mixtures: dict[str, tuple[Callable[[], torch.Tensor], float]] = {
        "ring8": (ring8_means, RING8_SIGMA),
        "grid25": (grid25_means, GRID25_SIGMA),
    }
    if name not in mixtures:
        raise GanforgeError(f"'{name}' is not a toy mixture; accepted: {', '.join(mixtures)}")
    means_fn, sigma = mixtures[name]
    return means_fn(), sigma


def sample_mixture(
    means: torch.Tensor, sigma: float, n: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points from an equal-weight mixture of isotropic Gaussians.

    Args:
        means: float ``(K, D)`` mode centres.
        sigma: standard deviation of every mode.
        n: number of points.
        generator: source of randomness (``None``: torch's global generator).

    Returns:
        ``(points, modes)``: float32 ``(n, D)`` and int64 ``(n,)``, the mode each point
        was drawn from, uniform over ``0..K-1``.
    """
    means = means.float()
    modes = torch.randint(len(means), (n,), generator=generator)
    noise = torch.randn((n, means.shape[1]), generator=generator)
    return means[modes] + sigma * noise, modes


def _build_toy(name: str, cfg: "DataConfig") -> Dataset:
    means, sigma = toy_mixture(name)
    generator = torch.Generator().manual_seed(TOY_SEEDS[cfg.split])
    points, _ = sample_mixture(means, sigma, cfg.toy_samples, generator)
    # The mode index is not a class a conditional model should learn; it is kept off the
    # data set so nothing trains on it. Metrics recompute it from toy_mixture().
    return Dataset(name=name, data=points)


@register_dataset("ring8", batch="vectors", splits=("train", "test"), features="points", oracle="nearest-mode",
                  modes="mixture")
def build_ring8(cfg: "DataConfig") -> Dataset:
    """``cfg.toy_samples`` float32 points ``(N, 2)`` from the 8-mode ring, unlabelled."""
    return _build_toy("ring8", cfg)


@register_dataset("grid25", batch="vectors", splits=("train", "test"), features="points", oracle="nearest-mode",
                  modes="mixture")
def build_grid25(cfg: "DataConfig") -> Dataset:
    """``cfg.toy_samples`` float32 points ``(N, 2)`` from the 25-mode grid, unlabelled."""
    return _build_toy("grid25", cfg)


@torch.no_grad()
def nearest_mode(points: torch.Tensor, means: torch.Tensor) -> torch.Tensor:
    """int64 ``(N,)``: index of the nearest mode mean ``(K, 2)`` of each point ``(N, 2)``.

    The "classifier" of the 2D mixtures for :func:`ganforge.metrics.diversity.normalized_entropy`. Unlike
    :func:`ganforge.metrics.stats.mode_metrics_2d` there is no 3-sigma quality filter: the
    probe asks how G's outputs spread over the modes, and an off-mode sample still says
    which mode G is drifting to.
    """
    if points.dim() != 2 or means.dim() != 2 or points.shape[1] != means.shape[1]:
        raise ValueError(
            f"points (N, D) and means (K, D) must agree, got {tuple(points.shape)} and {tuple(means.shape)}"
        )
    return torch.cdist(points.detach().double(), means.detach().double().to(points.device)).argmin(dim=1)


