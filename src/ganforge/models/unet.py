"""U-Net generator for paired image-to-image translation.

The U-Net of Ronneberger et al. 2015 ("U-Net: Convolutional Networks for Biomedical Image
Segmentation") as pix2pix uses it (Isola et al. 2017, "Image-to-Image Translation with
Conditional Adversarial Networks", section 3.2.1): an encoder that halves the resolution
``depth`` times and a mirrored decoder, where decoder level ``i`` also reads the encoder's
level-``i`` features (a skip connection), so low-level detail such as edge positions goes
straight across instead of through the bottleneck. Channels at level ``i`` (resolution
``H / 2**(i+1)``) are ``c_i = min(width * 2**i, max_channels)``::

    encoder  e_0 = conv4x4/2(x)                                  (no norm, as in pix2pix)
             e_i = norm(conv4x4/2(lrelu_0.2(e_{i-1})))           i = 1 .. depth-1
                   (the innermost level has no norm: at 1x1, instance norm would zero it)
    decoder  d_{depth-1} = up(e_{depth-1})
             d_i = up([d_{i+1}, e_i])                            i = depth-2 .. 0
             up(h) = dropout(norm(conv3x3(upsample2x(relu(h)))))  (the outermost: no norm)
    output   y = tanh(d_0)              or, with ``residual``,  y = tanh(atanh(x) + d_0)

Upsampling is nearest-neighbour followed by a 3x3 convolution rather than a transposed
convolution, which avoids checkerboard artefacts (Odena et al. 2016, "Deconvolution and
Checkerboard Artifacts"). Dropout (pix2pix's only source of noise) acts in the
:data:`DROPOUT_LEVELS` innermost decoder levels, never the outermost.

Any input size works: H and W are padded by reflection to multiples of ``2**depth`` and the
output is cropped back, so photos of any shape go through unchanged in size.
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator
from torch import nn

from ..errors import GanforgeError
from ..schema import StrictModel
from .layers import NormKind, init_weights, norm_layer, pad_to_multiple

# pix2pix's 256 px U-Net (depth 8) uses dropout in its three innermost decoder levels.
DROPOUT_LEVELS = 3
# Keeps atanh finite for inputs at exactly +-1; the identity is exact for |x| <= 1 - this.
_ATANH_EPS = 1e-3


class UNetConfig(StrictModel):
    """Keyword arguments of :class:`UNetGenerator`; unknown keys are refused."""

    in_channels: int = Field(3, ge=1, description="channels of the source image")
    out_channels: int = Field(3, ge=1, description="channels of the produced image")
    width: int = Field(32, ge=1, description="channels of the first (highest-resolution) level; doubled per level")
    depth: int = Field(4, ge=1, le=10, description="number of 2x down-sampling levels")
    max_channels: int = Field(256, ge=1, description="cap on the channels of any level")
    norm: NormKind = Field("instance", description="normalisation after each inner convolution")
    dropout: float = Field(
        0.0, ge=0.0, lt=1.0,
        description=f"dropout probability in the {DROPOUT_LEVELS} innermost decoder levels (pix2pix: 0.5)",
    )
    residual: bool = Field(
        False, description="predict a change of the input (output = input + delta); needs in_channels == out_channels"
    )

    @model_validator(mode="after")
    def _residual_needs_same_channels(self) -> "UNetConfig":
        if self.residual and self.in_channels != self.out_channels:
            raise ValueError(
                f"residual=true needs in_channels == out_channels, got {self.in_channels} and {self.out_channels}; "
                "set residual=false"
            )
        return self


class UNetGenerator(nn.Module):
    """U-Net generator: source images ``(N, in_channels, H, W)`` in [-1, 1] -> ``(N, out_channels, H, W)``
    in [-1, 1]. See the module docstring for the architecture."""

    def __init__(
        self,
        *,
        in_channels: int = 3,  # channels of the source image
        out_channels: int = 3,  # channels of the produced image
        width: int = 32,  # channels of level 0 (H/2); level i has min(width * 2**i, max_channels)
        depth: int = 4,  # number of 2x down-sampling levels; the bottleneck is H / 2**depth
        max_channels: int = 256,  # cap on any level's channels
        norm: NormKind = "instance",  # batch | instance | none
        dropout: float = 0.0,  # dropout probability in the DROPOUT_LEVELS innermost decoder levels
        residual: bool = False,  # output = tanh(atanh(input) + delta); needs in_channels == out_channels
    ) -> None:
        super().__init__()
        if residual and in_channels != out_channels:
            raise ValueError(f"residual needs in_channels == out_channels, got {in_channels} and {out_channels}")
        self.in_channels, self.out_channels, self.depth, self.residual = in_channels, out_channels, depth, residual
        ch = [min(width * 2**i, max_channels) for i in range(depth)]
        biased = norm == "none"  # a norm with an affine part makes a bias redundant

        self.down = nn.ModuleList()
        for i in range(depth):
            has_norm = 0 < i < depth - 1
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            c_in = in_channels if i == 0 else ch[i - 1]
            layers.append(nn.Conv2d(c_in, ch[i], 4, stride=2, padding=1, bias=biased or not has_norm))
            if has_norm:
                layers.append(norm_layer(norm, ch[i]))
            self.down.append(nn.Sequential(*layers))

        self.up = nn.ModuleList()  # up[i] makes level i-1's features (the output for i = 0)
        for i in range(depth):
            outermost, innermost = i == 0, i == depth - 1
            c_in = ch[i] if innermost else 2 * ch[i]
            c_out = out_channels if outermost else ch[i - 1]
            layers = [
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=biased or outermost),
            ]
            if not outermost:
                layers.append(norm_layer(norm, c_out))
                if dropout > 0 and i >= depth - DROPOUT_LEVELS:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))

        init_weights(self)
        if residual:
            # Start as the identity: the network then only has to learn the change, which is
            # what makes a residual U-Net train fast on restoration tasks.
            nn.init.zeros_(self.up[0][-1].weight)
            nn.init.zeros_(self.up[0][-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in_channels, H, W) in [-1, 1], any H and W -> (N, out_channels, H, W) in [-1, 1]."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GanforgeError(
                f"unet expects images of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}; "
                "check data.channels / data.source_channels against model in_channels"
            )
        height, width = x.shape[-2:]
        padded, (top, left) = pad_to_multiple(x, 2**self.depth)

        skips = []
        h = padded
        for down in self.down:
            h = down(h)
            skips.append(h)
        h = self.up[-1](skips[-1])
        for i in range(self.depth - 2, -1, -1):
            h = self.up[i](torch.cat([h, skips[i]], dim=1))
        delta = h[:, :, top : top + height, left : left + width]

        if self.residual:
            # Adding in atanh space keeps the output in (-1, 1) without clamping, which would
            # cut the gradient wherever input + delta leaves the range.
            return torch.tanh(torch.atanh(x.clamp(-1 + _ATANH_EPS, 1 - _ATANH_EPS)) + delta)
        return torch.tanh(delta)


from .base import Backbone, register_backbone

register_backbone(
    Backbone(name="unet", role="generator", config=UNetConfig, build=lambda cfg: UNetGenerator(**cfg.model_dump()))
)
