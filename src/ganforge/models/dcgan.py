"""DCGAN (Radford et al. 2016): transposed-convolution G, strided-convolution D.

Sizes 28, 32 and 64 px, 1 or 3 channels. G doubles the resolution per block from a 7x7
(28 px) or 4x4 (32, 64 px) start; channel counts halve as the resolution doubles, ending
at ``width``. Class conditioning goes through conditional batch norm in G and a projection
or auxiliary-classifier head in D. D has no batch norm, so R1 and gradient penalties are
well defined, and spectral norm is its usual stabiliser.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
from pydantic import Field
from torch import nn

from ..schema import FamilyConfig
from ..errors import GanforgeError
from .base import ModelFamily, register_model, square_image_shape
from .layers import ConditionalBatchNorm, DiscriminatorHead, MinibatchStd, init_weights, maybe_sn, pack_samples, trait_sizes

# resolution -> (start size, number of 2x up/down-sampling blocks)
_LAYOUT = {28: (7, 2), 32: (4, 3), 64: (4, 4)}


def _layout(resolution: int) -> tuple[int, int]:
    if resolution not in _LAYOUT:
        raise GanforgeError(f"dcgan supports resolutions {sorted(_LAYOUT)}, not {resolution}; set data.resolution")
    return _LAYOUT[resolution]


class DCGANConfig(FamilyConfig):
    family: Literal["dcgan"] = "dcgan"
    width: int = Field(64, ge=8, description="channels of G's last and D's first block")


class Generator(nn.Module):
    def __init__(
        self,
        *,
        latent_dim: int,  # size of z
        resolution: int,  # 28, 32 or 64
        channels: int,  # 1 or 3
        width: int,  # channels of the last hidden block; earlier blocks double it
        num_classes: int | Sequence[int] = 0,  # K > 0 or values per trait: conditional batch norm
    ) -> None:
        super().__init__()
        start, blocks = _layout(resolution)
        self.trait_sizes = trait_sizes(num_classes)
        self.latent_dim = latent_dim
        self.output_shape = (channels, resolution, resolution)
        ch = width * 2 ** (blocks - 1)
        self.start, self.start_ch = start, ch
        self.fc = nn.Linear(latent_dim, ch * start * start, bias=False)
        self.fc_norm = ConditionalBatchNorm(ch, num_classes)
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(blocks - 1):
            self.ups.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            self.norms.append(ConditionalBatchNorm(ch // 2, num_classes))
            ch //= 2
        self.to_image = nn.ConvTranspose2d(ch, channels, 4, 2, 1)
        init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z`` (N, latent_dim), ``labels`` (N,) or (N, T) or None -> images (N, C, H, W) in [-1, 1]."""
        x = self.fc(z).view(z.shape[0], self.start_ch, self.start, self.start)
        x = torch.relu(self.fc_norm(x, labels))
        for up, norm in zip(self.ups, self.norms):
            x = torch.relu(norm(up(x), labels))
        return torch.tanh(self.to_image(x))


class Discriminator(nn.Module):
    def __init__(
        self,
        *,
        resolution: int,
        channels: int,
        width: int,  # channels of the first block; each later block doubles it
        num_classes: int | Sequence[int] = 0,  # K > 0 or values per trait: D judges each trait
        conditioning: str = "projection",  # projection | acgan
        spectral_norm: bool = False,
        minibatch_std: bool = False,
        pack: int = 1,  # PacGAN degree: input has pack * channels channels
    ) -> None:
        super().__init__()
        start, blocks = _layout(resolution)
        self.pack = pack
        layers: list[nn.Module] = []
        ch_in, ch = channels * pack, width
        for _ in range(blocks):
            layers += [maybe_sn(nn.Conv2d(ch_in, ch, 4, 2, 1), spectral_norm), nn.LeakyReLU(0.2)]
            ch_in, ch = ch, ch * 2
        self.convs = nn.Sequential(*layers)
        self.mbstd = MinibatchStd() if minibatch_std else None
        flat = (ch_in + (1 if minibatch_std else 0)) * start * start
        self.features = nn.Sequential(maybe_sn(nn.Linear(flat, ch_in), spectral_norm), nn.LeakyReLU(0.2))
        self.head = DiscriminatorHead(ch_in, num_classes=num_classes, conditioning=conditioning, sn=spectral_norm)
        init_weights(self)

    def forward(
        self, x: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` (N, C, H, W) -> scores (N / pack,) and class logits (acgan) or None."""
        h = self.convs(pack_samples(x, self.pack))
        if self.mbstd is not None:
            h = self.mbstd(h)
        return self.head(self.features(h.flatten(1)), labels)


def _generator(cfg: DCGANConfig) -> Generator:
    channels, res = square_image_shape(cfg)
    return Generator(
        latent_dim=cfg.latent_dim, resolution=res, channels=channels, width=cfg.width,
        num_classes=cfg.label_sizes,
    )


def _discriminator(cfg: DCGANConfig) -> Discriminator:
    channels, res = square_image_shape(cfg)
    return Discriminator(
        resolution=res, channels=channels, width=cfg.width,
        num_classes=cfg.label_sizes, conditioning=cfg.d_conditioning,
        spectral_norm=cfg.spectral_norm, minibatch_std=cfg.minibatch_std, pack=cfg.pack,
    )


register_model(ModelFamily("dcgan", DCGANConfig, _generator, _discriminator))
