"""ResNet-block generator for unpaired translation (CycleGAN).

The generator of Johnson et al. 2016 ("Perceptual Losses for Real-Time Style Transfer and
Super-Resolution") as CycleGAN uses it (Zhu et al. 2017, appendix 7.2: ``c7s1-64, d128, d256,
R256 x 9, u128, u64, c7s1-3``). With ``w = width`` and ``n = blocks``::

    stem     reflect-pad 3, conv7x7 -> w, norm, relu
    down     conv3x3/2 -> 2w, norm, relu;  conv3x3/2 -> 4w, norm, relu
    blocks   n x  h + norm(conv3x3(relu(norm(conv3x3(h)))))        (reflection padding, 4w channels)
    up       upsample x2 -> 2w, norm, relu;  upsample x2 -> w, norm, relu
    head     reflect-pad 3, conv7x7 -> out_channels, tanh

``upsample`` is ``"resize"`` (the default: nearest-neighbour x2, then a reflection-padded 3x3
convolution) or ``"transposed"`` (CycleGAN's transposed 3x3 convolution of stride 2). Transposed
convolutions whose kernel is not divisible by the stride overlap unevenly and print checkerboard
patterns that the network must learn to cancel (Odena et al. 2016, "Deconvolution and
Checkerboard Artifacts"); resize-convolution cannot make them. The flag stays so the two can
be measured against each other (``bench/style.py``).

Any input size works: H and W are padded by reflection to multiples of 4 (and at least 8) and
the output is cropped back, so a photo keeps its size.

Instance norm makes every output pixel depend on the whole input (its per-channel mean and
variance), so a photo cut into tiles would get different statistics per tile and visible seams.
:meth:`ResnetGenerator.forward_thumbnail` runs a tile with the statistics of a thumbnail of the
whole photo instead (Thumbnail Instance Normalization, Chen et al. 2022, "Towards
Ultra-Resolution Neural Style Transfer via Thumbnail Instance Normalization"): every tile then
sees the same normalisation, and what is left depends only on the receptive radius
(:attr:`ResnetGenerator.receptive_radius`), which tile overlap covers.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import nn

from ..errors import GanforgeError
from ..schema import StrictModel
from .layers import NormKind, init_weights, norm_layer, pad_to_multiple

DOWNSAMPLINGS = 2  # the generator works at 1/4 resolution in its residual blocks

UpsampleKind = Literal["resize", "transposed"]


class ResnetGeneratorConfig(StrictModel):
    """Keyword arguments of :class:`ResnetGenerator`; unknown keys are refused."""

    in_channels: int = Field(3, ge=1, description="channels of the input image")
    out_channels: int = Field(3, ge=1, description="channels of the produced image")
    width: int = Field(32, ge=1, description="channels of the full-resolution layers; x2 per downsampling (CycleGAN: 64)")
    blocks: int = Field(6, ge=0, le=32, description="residual blocks at 1/4 resolution (CycleGAN: 9 at 256 px, 6 at 128 px)")
    norm: NormKind = Field("instance", description="normalisation after each convolution but the last")
    upsample: UpsampleKind = Field("resize", description="resize (nearest x2 + conv3x3, no checkerboard) | transposed")


def _thumbnail_pass(module: nn.Module, x: torch.Tensor, thumb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``module`` on ``x`` and on ``thumb`` side by side, every instance norm normalising both with
    the thumbnail's per-channel mean and variance (see the module docstring)."""
    if isinstance(module, nn.Sequential):
        for child in module:
            x, thumb = _thumbnail_pass(child, x, thumb)
        return x, thumb
    if isinstance(module, ResidualBlock):
        dx, dt = _thumbnail_pass(module.body, x, thumb)
        return x + dx, thumb + dt
    if isinstance(module, nn.InstanceNorm2d):
        mean = thumb.mean(dim=(2, 3), keepdim=True)
        var = (thumb - mean).pow(2).mean(dim=(2, 3), keepdim=True)
        scale = torch.rsqrt(var + module.eps)
        if module.affine:
            scale = scale * module.weight.view(1, -1, 1, 1)
            shift = module.bias.view(1, -1, 1, 1) - mean * scale
        else:
            shift = -mean * scale
        return x * scale + shift, thumb * scale + shift
    return module(x), module(thumb)


class ResidualBlock(nn.Module):
    """``h + norm(conv(relu(norm(conv(h)))))`` with 3x3 convolutions and reflection padding (He et al. 2016)."""

    def __init__(self, channels: int, norm: NormKind) -> None:
        super().__init__()
        biased = norm == "none"
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=biased), norm_layer(norm, channels), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3, bias=biased), norm_layer(norm, channels),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


def upsample_layer(c_in: int, c_out: int, kind: UpsampleKind, bias: bool) -> nn.Module:
    """x2 upsampling from ``c_in`` to ``c_out`` channels (see the module docstring)."""
    if kind == "resize":
        return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                             nn.Conv2d(c_in, c_out, 3, bias=bias))
    if kind == "transposed":
        return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=1, bias=bias)
    raise ValueError(f"upsample must be resize or transposed, got {kind!r}")


class ResnetGenerator(nn.Module):
    """ResNet-block generator: images ``(N, in_channels, H, W)`` in [-1, 1] -> ``(N, out_channels, H, W)``
    in [-1, 1]. See the module docstring for the architecture."""

    def __init__(
        self,
        *,
        in_channels: int = 3,  # channels of the input image
        out_channels: int = 3,  # channels of the produced image
        width: int = 32,  # channels at full resolution; 2w at 1/2, 4w at 1/4 (the residual blocks)
        blocks: int = 6,  # residual blocks at 1/4 resolution
        norm: NormKind = "instance",  # batch | instance | none
        upsample: UpsampleKind = "resize",  # resize | transposed
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.blocks = in_channels, out_channels, blocks
        biased = norm == "none"  # a norm with an affine part makes a bias redundant
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7, bias=biased),
                                   norm_layer(norm, width), nn.ReLU()]
        c = width
        for _ in range(DOWNSAMPLINGS):
            layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1, bias=biased), norm_layer(norm, 2 * c), nn.ReLU()]
            c *= 2
        layers += [ResidualBlock(c, norm) for _ in range(blocks)]
        for _ in range(DOWNSAMPLINGS):
            layers += [upsample_layer(c, c // 2, upsample, biased), norm_layer(norm, c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in_channels, H, W) in [-1, 1], any H and W -> (N, out_channels, H, W) in [-1, 1]."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GanforgeError(f"resnet generator expects images of shape (N, {self.in_channels}, H, W), "
                                f"got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        # At least 2 x 2 pixels in the residual blocks: instance norm of a single pixel is undefined.
        padded, (top, left) = pad_to_multiple(x, 2**DOWNSAMPLINGS, minimum=2 * 2**DOWNSAMPLINGS)
        return self.body(padded)[:, :, top : top + height, left : left + width]

    def forward_thumbnail(self, x: torch.Tensor, thumb: torch.Tensor) -> torch.Tensor:
        """Like ``forward(x)``, but every instance norm uses the statistics of ``thumb`` (1, C, h, w),
        a downscaled copy of the whole image ``x`` is a tile of; see the module docstring.
        ``forward_thumbnail(x, x)`` equals ``forward(x)`` up to float rounding."""
        for name, t in (("input", x), ("thumbnail", thumb)):
            if t.dim() != 4 or t.shape[1] != self.in_channels:
                raise GanforgeError(f"resnet generator expects {name} of shape (N, {self.in_channels}, H, W), "
                                    f"got {tuple(t.shape)}")
        height, width = x.shape[-2:]
        padded, (top, left) = pad_to_multiple(x, 2**DOWNSAMPLINGS, minimum=2 * 2**DOWNSAMPLINGS)
        small, _ = pad_to_multiple(thumb, 2**DOWNSAMPLINGS, minimum=2 * 2**DOWNSAMPLINGS)
        out, _ = _thumbnail_pass(self.body, padded, small)
        return out[:, :, top : top + height, left : left + width]

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side an output pixel depends on, instance norm aside: the 7x7 stem
        (3), the two stride-2 convolutions (1 + 2), two 3x3 convolutions per residual block at 1/4
        resolution (8 each), the two upsampling convolutions (2 + 1) and the 7x7 head (3), plus 1 for
        the nearest-neighbour upsampling's odd/even asymmetry (measured in tests/models/test_resnet_gen.py)."""
        return 13 + 8 * self.blocks

    @property
    def alignment(self) -> int:
        """Tile sides and origins in multiples of 4 need no padding inside the network."""
        return 2**DOWNSAMPLINGS


from .base import Backbone, register_backbone

register_backbone(
    Backbone(name="resnet", role="generator", config=ResnetGeneratorConfig,
             build=lambda cfg: ResnetGenerator(**cfg.model_dump()))
)
