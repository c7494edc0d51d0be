"""PatchGAN discriminator (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks", section 3.2.2).

Instead of one score per image, D scores every overlapping patch: it is fully convolutional
and its output ``(N, 1, H', W')`` holds one realness logit per patch. An L1 or perceptual loss
already gets the low frequencies right, so D only has to judge local texture and sharpness,
which needs far fewer parameters than a whole-image D and works on any image size.

Layers, with ``c_n = min(width * 2**n, max_channels)`` (the 70x70 PatchGAN of the paper is
``layers=3, width=64, max_channels=512``)::

    conv4x4/2 -> c_0, lrelu_0.2                           (no norm on the input layer)
    conv4x4/2 -> c_n, norm, lrelu_0.2                      n = 1 .. layers-1
    conv4x4/1 -> c_layers, norm, lrelu_0.2
    conv4x4/1 -> 1                                         (patch logits)

Receptive field: walking back from one output pixel, a k x k convolution of stride s turns a
field of r pixels into ``s * (r - 1) + k``. The two stride-1 layers give 4, then 7, and each
of the ``layers`` stride-2 layers maps r to ``2 r + 2``, so ``r + 2`` doubles from 9::

    receptive field = 9 * 2**layers - 2        (layers = 1, 2, 3, 4: 16, 34, 70, 142 pixels)

Output size: every convolution has padding 1, so each stride-2 layer takes H to ``floor(H / 2)``
and each stride-1 layer removes one pixel: ``H' = floor(H / 2**layers) - 2``, which needs
``H >= 3 * 2**layers``.
"""

from __future__ import annotations

import torch
from pydantic import Field
from torch import nn

from ..errors import GanforgeError
from ..schema import StrictModel
from .layers import init_weights, maybe_sn
from .layers import NormKind, norm_layer


def receptive_field(layers: int) -> int:
    """Side in pixels of the input patch one output logit of a ``layers``-layer PatchGAN sees."""
    return 9 * 2**layers - 2


class PatchGANConfig(StrictModel):
    """Keyword arguments of :class:`PatchDiscriminator`; unknown keys are refused."""

    in_channels: int = Field(6, ge=1, description="input channels: source and target concatenated")
    width: int = Field(32, ge=1, description="channels of the first layer; doubled per stride-2 layer")
    layers: int = Field(3, ge=1, le=8, description="stride-2 layers; receptive field 9 * 2**layers - 2 pixels")
    max_channels: int = Field(256, ge=1, description="cap on the channels of any layer")
    norm: NormKind = Field("instance", description="normalisation after each inner convolution")
    spectral_norm: bool = Field(False, description="spectral normalization on every convolution (Miyato et al. 2018)")


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``x`` (N, in_channels, H, W) -> patch logits (N, 1, H', W'); see the module docstring."""

    def __init__(
        self,
        *,
        in_channels: int = 6,  # channels of the input: for pix2pix, source and target concatenated
        width: int = 32,  # channels of the first layer; layer n has min(width * 2**n, max_channels)
        layers: int = 3,  # stride-2 layers; receptive field 9 * 2**layers - 2 pixels
        max_channels: int = 256,  # cap on any layer's channels
        norm: NormKind = "instance",  # batch | instance | none
        spectral_norm: bool = False,  # spectral normalization on every convolution
    ) -> None:
        super().__init__()
        self.in_channels, self.layers = in_channels, layers
        ch = [min(width * 2**n, max_channels) for n in range(layers + 1)]
        biased = norm == "none"  # a norm with an affine part makes a bias redundant

        def conv(c_in: int, c_out: int, stride: int, bias: bool) -> nn.Module:
            return maybe_sn(nn.Conv2d(c_in, c_out, 4, stride=stride, padding=1, bias=bias), spectral_norm)

        body: list[nn.Module] = [conv(in_channels, ch[0], 2, True), nn.LeakyReLU(0.2)]
        for n in range(1, layers + 1):
            stride = 2 if n < layers else 1
            body += [conv(ch[n - 1], ch[n], stride, biased), norm_layer(norm, ch[n]), nn.LeakyReLU(0.2)]
        body.append(conv(ch[layers], 1, 1, True))
        self.body = nn.Sequential(*body)
        init_weights(self)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (N, in_channels, H, W) -> logits (N, 1, floor(H / 2**layers) - 2, floor(W / 2**layers) - 2)."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise GanforgeError(
                f"patchgan expects images of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        smallest = 3 * 2**self.layers
        if min(x.shape[-2:]) < smallest:
            raise GanforgeError(
                f"patchgan with layers={self.layers} needs images of at least {smallest} x {smallest} pixels, "
                f"got {x.shape[-2]} x {x.shape[-1]}; use fewer layers or larger images"
            )
        return self.body(x)


from .base import Backbone, register_backbone

register_backbone(
    Backbone(
        name="patchgan", role="discriminator", config=PatchGANConfig,
        build=lambda cfg: PatchDiscriminator(**cfg.model_dump()),
    )
)
