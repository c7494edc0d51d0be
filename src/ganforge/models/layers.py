"""Layers shared by every model family.

Conditioning (conditional batch norm, projection and auxiliary-classifier heads), the
minibatch standard-deviation feature, PacGAN packing and spectral normalization live here
once, so the families differ only in their backbone.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm
from torch.nn.utils.parametrize import is_parametrized


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``module`` with spectral normalization (Miyato et al. 2018) when ``enabled``."""
    return spectral_norm(module) if enabled else module


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose gain and bias depend on the class (de Vries et al. 2017).

    The statistics are shared by all classes; only the affine part is per class, which is
    what lets one network draw ten kinds of garment. With ``num_classes == 0`` it is plain
    batch norm with a learned affine transform.
    """

    def __init__(self, num_features: int, num_classes: int, *, dims: int = 2) -> None:
        super().__init__()
        bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.conditional = num_classes > 0
        self.bn = bn(num_features, affine=not self.conditional)
        if self.conditional:
            self.gain = nn.Embedding(num_classes, num_features)  # (K, C): per-class scale
            self.bias = nn.Embedding(num_classes, num_features)  # (K, C): per-class shift
            nn.init.ones_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.conditional:
            return out
        if labels is None:
            raise ValueError("a conditional generator needs labels")
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return out * self.gain(labels).view(shape) + self.bias(labels).view(shape)


class MinibatchStd(nn.Module):
    """Append the average standard deviation across a group of samples as one feature.

    Karras et al. 2018 (ProGAN), section 3: D sees how varied a group of samples is, so a
    generator that repeats itself is easy to spot. Works on ``(N, C, H, W)`` (adds a
    channel) and ``(N, F)`` (adds a feature). The group is the largest divisor of N that is
    at most ``group_size``.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        g = max(d for d in range(1, min(self.group_size, n) + 1) if n % d == 0)
        y = x.float().reshape(g, n // g, *x.shape[1:])  # (G, M, ...): group members on dim 0
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (M, ...)
        y = y.flatten(1).mean(dim=1)  # (M,)
        y = y.repeat(g).to(x.dtype)  # (N,) sample j belongs to group j % M
        if x.dim() == 4:
            return torch.cat([x, y.view(n, 1, 1, 1).expand(n, 1, *x.shape[2:])], dim=1)
        return torch.cat([x, y.view(n, 1)], dim=1)


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN (Lin et al. 2018): stack ``pack`` consecutive samples along the channel axis.

    ``(N, C, ...) -> (N / pack, pack * C, ...)``. D then judges sets of samples, which
    penalises a generator that covers few modes.
    """
    if pack == 1:
        return x
    n = x.shape[0]
    if n % pack:
        raise ValueError(f"batch of {n} cannot be packed in groups of {pack}")
    return x.reshape(n // pack, pack * x.shape[1], *x.shape[2:])


class DiscriminatorHead(nn.Module):
    """Turns D's feature vector ``h`` (N, F) into a realness score and, for ACGAN, class logits.

    * unconditional: ``score = w . h + b``
    * projection (Miyato & Koyama 2018): ``score = w . h + b + embed(y) . h``
    * acgan (Odena et al. 2017): ``score = w . h + b`` and ``class_logits = W_c h``
    """

    def __init__(self, features: int, *, num_classes: int, conditioning: str, sn: bool) -> None:
        super().__init__()
        self.score = maybe_sn(nn.Linear(features, 1), sn)
        self.mode = conditioning if num_classes > 0 else "none"
        if self.mode == "projection":
            self.embed = maybe_sn(nn.Embedding(num_classes, features), sn)
            nn.init.normal_(self.embed.weight, std=1.0 / math.sqrt(features))
        elif self.mode == "acgan":
            self.classifier = maybe_sn(nn.Linear(features, num_classes), sn)

    def forward(
        self, h: torch.Tensor, labels: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        score = self.score(h).squeeze(1)  # (N,)
        if self.mode == "projection":
            if labels is None:
                raise ValueError("a projection discriminator needs labels")
            score = score + (self.embed(labels) * h).sum(dim=1)
            return score, None
        if self.mode == "acgan":
            return score, self.classifier(h)
        return score, None


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): N(0, 0.02) for conv and linear weights."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # Under spectral norm, ``weight`` is computed; initialise the stored original.
            weight = m.parametrizations.weight.original if is_parametrized(m, "weight") else m.weight
            nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
