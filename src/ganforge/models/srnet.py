"""A small, fast convolutional restorer for photos: super-resolution, denoising, restoration.

The body works at a reduced resolution, so the receptive field is wide and a CPU runs it fast
(FFDNet, Zhang et al. 2018, sec. III-B: pixel-unshuffle the input; ESPCN, Shi et al. 2016:
pixel-shuffle the output)::

    h   = unshuffle_u(x)                              (B, C_in * u^2, H/u, W/u)
    h0  = lrelu(conv3x3(h))                           width channels
    h   = h0 + body(h0)                               depth x (conv3x3, lrelu)
    out = shuffle_{s*u}(conv3x3(h))                   (B, C_out, s*H, s*W)
    y   = up_s(x[:, :C_out]) + out                    global residual on the bicubic image

``s`` is the output scale (1, 2 or 4) and ``u`` the unshuffle factor (1 or 2). With the global
residual the network only learns what bicubic interpolation (or, at scale 1, the input) misses,
and its last convolution starts near zero, so an untrained model is about bicubic: training
begins near bicubic's PSNR and improves on it. Inputs beyond ``C_out`` channels (a noise
level map, say) feed the body but not the residual.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from ..schema import StrictModel


class SRNetConfig(StrictModel):
    """Keyword arguments of :class:`SRNet`; unknown keys are refused."""

    in_channels: int = Field(3, ge=1, description="channels of the input (image channels, plus e.g. a noise map)")
    out_channels: int = Field(3, ge=1, description="channels of the output image")
    scale: int = Field(1, description="output size / input size: 1, 2 or 4")
    width: int = Field(32, ge=4, le=256, description="channels of the body convolutions")
    depth: int = Field(6, ge=1, le=32, description="3x3 convolutions in the body")
    unshuffle: int = Field(1, description="1 or 2: the body runs at 1/unshuffle of the input resolution")
    residual: bool = Field(True, description="add the bicubic-upscaled input (needs in_channels >= out_channels)")

    @model_validator(mode="after")
    def _check(self) -> "SRNetConfig":
        if self.scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {self.scale}")
        if self.unshuffle not in (1, 2):
            raise ValueError(f"unshuffle must be 1 or 2, got {self.unshuffle}")
        if self.residual and self.in_channels < self.out_channels:
            raise ValueError("residual needs in_channels >= out_channels (the residual is the input's first channels)")
        return self


class SRNet(nn.Module):
    """See the module docstring. Input float (B, C_in, H, W) in [-1, 1], H and W multiples of
    ``unshuffle``; output float (B, C_out, scale*H, scale*W), about [-1, 1] (not clamped)."""

    def __init__(self, *, in_channels: int = 3, out_channels: int = 3, scale: int = 1, width: int = 32,
                 depth: int = 6, unshuffle: int = 1, residual: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.scale = in_channels, out_channels, scale
        self.unshuffle, self.residual, self.depth = unshuffle, residual, depth
        u, s = unshuffle, scale
        self.head = nn.Conv2d(in_channels * u * u, width, 3, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(depth))
        self.tail = nn.Conv2d(width, out_channels * (s * u) ** 2, 3, padding=1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        # Start close to the residual path alone (bicubic, or the identity at scale 1). Not exactly
        # zero: a zero last layer makes the body's first gradients so small that Adam's second
        # moments underflow to denormal floats, which CPUs process several times slower.
        with torch.no_grad():
            self.tail.weight.mul_(0.1)
            self.tail.bias.zero_()

    @property
    def receptive_radius(self) -> int:
        """Input pixels on each side that can influence an output pixel (the tiling overlap
        must be at least this for tiles to match the whole image)."""
        convs = self.depth + 2  # head, body, tail: each 3x3 reaches one body pixel = u input pixels
        reach = convs * self.unshuffle + self.unshuffle - 1  # plus the rest of the unshuffle block
        bicubic = 2 if self.residual and self.scale > 1 else 0  # the residual's 4-tap kernel
        # An output pixel of a pixel-shuffled block sits up to half an input pixel from its source.
        return max(reach, bicubic) + (1 if self.scale > 1 else 0)

    @property
    def alignment(self) -> int:
        """Input sizes and tile origins must be multiples of this (the unshuffle grid)."""
        return self.unshuffle

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.pixel_unshuffle(x, self.unshuffle) if self.unshuffle > 1 else x
        h0 = self.act(self.head(h))
        h = h0
        for conv in self.body:
            h = self.act(conv(h))
        h = self.tail(h + h0)
        f = self.scale * self.unshuffle
        out = F.pixel_shuffle(h, f) if f > 1 else h
        if not self.residual:
            return out
        base = x[:, : self.out_channels]
        if self.scale > 1:
            # onnxruntime's cubic Resize ran ~10x slower than torch's and made the whole network
            # 2.4x slower; the same interpolation as a convolution runs as fast as the body.
            upsample = bicubic_as_conv if torch.onnx.is_in_onnx_export() else _bicubic
            base = upsample(base, self.scale)
        return base + out


def _bicubic(x: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)


def _cubic(t: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    """Keys' cubic convolution kernel at distance |t| (a = -0.75, torch's and OpenCV's choice)."""
    t = t.abs()
    near = ((a + 2) * t - (a + 3)) * t * t + 1
    far = ((t - 5) * t + 8) * t * a - 4 * a
    return torch.where(t <= 1, near, torch.where(t < 2, far, torch.zeros_like(t)))


def bicubic_as_conv(x: torch.Tensor, scale: int) -> torch.Tensor:
    """``F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)`` as an edge
    pad of 2, a depthwise 5x5 convolution with one kernel per output phase and a pixel shuffle
    (equal up to float rounding; torch's bicubic clamps indices at the border, i.e. edge padding).

    Output pixel ``s k + p`` samples input coordinate ``k + (p + 0.5) / s - 0.5``, so phase ``p``
    weighs inputs ``k - 2 .. k + 2`` by the cubic kernel at their distances; the 2D kernel of
    phase (py, px) is the outer product of the two 1D ones."""
    c = int(x.shape[1])  # a constant under ONNX export: the kernel's shape must be known
    offsets = torch.arange(-2, 3, dtype=torch.float64)  # input taps k-2 .. k+2
    phases = (torch.arange(scale, dtype=torch.float64) + 0.5) / scale - 0.5  # source offset of each phase
    taps = _cubic(offsets[None, :] - phases[:, None])  # (s, 5)
    kernel = (taps[:, None, :, None] * taps[None, :, None, :]).reshape(scale * scale, 1, 5, 5)  # (py, px) -> 5x5
    kernel = kernel.repeat(c, 1, 1, 1).to(x)  # (c * s * s, 1, 5, 5): channel-major, as pixel_shuffle reads
    return F.pixel_shuffle(F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel, groups=c), scale)


from .base import Backbone, register_backbone

register_backbone(
    Backbone(name="srnet", role="generator", config=SRNetConfig, build=lambda cfg: SRNet(**cfg.model_dump()))
)
