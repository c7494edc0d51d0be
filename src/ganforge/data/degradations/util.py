"""Random draws shared by the degradations: one value per image from a torch.Generator."""

from __future__ import annotations

import torch


def uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    """``n`` floats uniform in [low, high) (float64 on the CPU, so the draws never depend on the device)."""
    return torch.rand(n, generator=gen, dtype=torch.float64) * (high - low) + low


def chance(gen: torch.Generator, n: int, p: float) -> torch.Tensor:
    """``n`` booleans, each True with probability ``p``."""
    return torch.rand(n, generator=gen, dtype=torch.float64) < p


def gen_device(x: torch.Tensor) -> torch.device:
    return x.device
