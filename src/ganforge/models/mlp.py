"""The vanilla GAN (Goodfellow et al. 2014): fully connected G and D.

For 2D toy mixtures and small flattened images. Images come out through ``tanh`` in
[-1, 1]; vectors are unbounded (the toy grid spans [-4, 4]).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
from pydantic import Field
from torch import nn

from ..schema import FamilyConfig
from ..errors import GanforgeError
from .base import ModelFamily, register_model
from .layers import (DiscriminatorHead, LatentCodes, MinibatchStd, TraitEmbedding, init_weights, maybe_sn, pack_samples,
                     trait_sizes)


class MLPConfig(FamilyConfig):
    family: Literal["mlp"] = "mlp"
    latent_dim: int = Field(64, ge=1, description="size of the noise vector z")
    width: int = Field(256, ge=4, description="units per hidden layer")
    depth: int = Field(3, ge=1, description="hidden layers in G and in D")
    data_scale: float = Field(
        1.0, gt=0,
        description="typical size of a vector's coordinates: G's last layer is multiplied by it and D's "
        "input divided by it, so both networks work in units of order 1 (the grid25 toy spans [-4, 4]: 4)",
    )
    latent_codes: int = Field(
        0, ge=0,
        description="0: off; K: G also gets one of K discrete codes read off z (uniform over the codes), "
        "so it can place samples on disconnected pieces without bridges between them",
    )


class Generator(nn.Module):
    def __init__(
        self,
        *,
        latent_dim: int,  # size of z
        output_shape: tuple[int, ...],  # (D,) for vectors or (C, H, W) for images
        width: int,  # units per hidden layer
        depth: int,  # hidden layers
        num_classes: int | Sequence[int] = 0,  # K > 0 or values per trait: their embedding, summed, joins z
        data_scale: float = 1.0,  # the network's unit-sized output is multiplied by this
        latent_codes: int = 0,  # > 0: a discrete code read off z, embedded in `width` units, joins z
    ) -> None:
        super().__init__()
        self.trait_sizes = trait_sizes(num_classes)
        self.latent_dim, self.data_scale = latent_dim, data_scale
        self.output_shape = tuple(output_shape)
        self.embed = TraitEmbedding(self.trait_sizes, latent_dim) if self.trait_sizes else None
        self.codes = LatentCodes(latent_codes, width) if latent_codes else None
        layers: list[nn.Module] = []
        fan_in = latent_dim * (2 if self.trait_sizes else 1) + (width if latent_codes else 0)
        for _ in range(depth):
            layers += [nn.Linear(fan_in, width), nn.ReLU()]
            fan_in = width
        layers.append(nn.Linear(fan_in, math.prod(self.output_shape)))
        self.net = nn.Sequential(*layers)
        # Only images have a fixed range; toy points can lie anywhere.
        self.out = nn.Tanh() if len(self.output_shape) == 3 else nn.Identity()
        if len(self.output_shape) == 3:
            init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z`` (N, latent_dim), ``labels`` (N,) or (N, T) or None -> samples (N, *output_shape)."""
        if self.embed is not None:
            if labels is None:
                raise ValueError("a conditional generator needs labels")
            h = torch.cat([z, self.embed(labels)], dim=1)
        else:
            h = z
        if self.codes is not None:
            h = torch.cat([h, self.codes(z)], dim=1)
        out = self.out(self.net(h))
        if self.data_scale != 1.0:
            out = out * self.data_scale
        return out.view(z.shape[0], *self.output_shape)


class Discriminator(nn.Module):
    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],  # shape of one sample
        width: int,
        depth: int,
        num_classes: int | Sequence[int] = 0,  # K > 0 or values per trait: D judges each trait
        conditioning: str = "projection",  # projection | acgan
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        pack: int = 1,  # PacGAN degree
        data_scale: float = 1.0,  # inputs are divided by this
    ) -> None:
        super().__init__()
        self.pack, self.data_scale = pack, data_scale
        layers: list[nn.Module] = []
        fan_in = math.prod(input_shape) * pack
        for _ in range(depth):
            layers += [maybe_sn(nn.Linear(fan_in, width), spectral_norm), nn.LeakyReLU(0.2)]
            fan_in = width
        self.net = nn.Sequential(*layers)
        self.mbstd = MinibatchStd() if minibatch_std else None
        features = width + (1 if minibatch_std else 0)
        self.head = DiscriminatorHead(features, num_classes=num_classes, conditioning=conditioning, sn=spectral_norm)
        if len(input_shape) == 3:
            init_weights(self)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.data_scale != 1.0:
            x = x / self.data_scale
        x = pack_samples(x, self.pack)
        h = self.net(x.flatten(1))
        if self.mbstd is not None:
            h = self.mbstd(h)
        return self.head(h, labels)


def _check_data_scale(cfg: MLPConfig) -> None:
    if cfg.data_scale != 1.0 and cfg.output_shape is not None and len(cfg.output_shape) == 3:
        raise GanforgeError(
            f"model.data_scale={cfg.data_scale:g} applies to vector data (the 2D toys); images are always "
            "in [-1, 1], so leave it at 1"
        )


def _generator(cfg: MLPConfig) -> Generator:
    _check_data_scale(cfg)
    return Generator(
        latent_dim=cfg.latent_dim, output_shape=cfg.output_shape, width=cfg.width, depth=cfg.depth,
        num_classes=cfg.label_sizes, data_scale=cfg.data_scale,
        latent_codes=cfg.latent_codes,
    )


def _discriminator(cfg: MLPConfig) -> Discriminator:
    _check_data_scale(cfg)
    return Discriminator(
        input_shape=cfg.output_shape, width=cfg.width, depth=cfg.depth,
        num_classes=cfg.label_sizes, conditioning=cfg.d_conditioning,
        spectral_norm=cfg.spectral_norm, minibatch_std=cfg.minibatch_std, pack=cfg.pack,
        data_scale=cfg.data_scale,
    )


register_model(ModelFamily("mlp", MLPConfig, _generator, _discriminator))
