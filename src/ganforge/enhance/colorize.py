"""Colorization: colour for black-and-white photos.

The network sees the lightness L of CIE Lab and predicts the two colour channels a and b
(Zhang et al. 2016; Isola et al. 2017 trained pix2pix the same way), with L1 in Lab plus an
adversarial loss that keeps the colours from fading to the grey-brown average L1 alone gives.
Colour varies slowly across a photo, so the network runs at a working resolution (the long
side scaled to ``WORK_SIZE``) and its a, b are upscaled to the photo and joined with the
photo's own full-resolution lightness: memory and time stay bounded for any photo size, and
no detail is lost.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..images import lab_to_rgb, rgb_to_lab
from ..runtime import Runner
from .base import EnhanceTool, InferenceOptions, Progress, network_geometry, register_tool

WORK_SIZE = 384  # long side, in pixels, at which the network sees the photo
AB_RANGE = 110.0  # |a|, |b| of sRGB colours stay within this
STRIP_PIXELS = 1 << 20  # pixels converted at a time at full resolution: float temporaries of a few MB
TRAIN_DOWNSCALE = 2  # training crops are halved, so they show as much of a scene as the working size does


def lightness(rgb: torch.Tensor) -> torch.Tensor:
    """RGB (B, 3, H, W) in [0, 1] -> L/50 - 1 in [-1, 1] (B, 1, H, W)."""
    return rgb_to_lab(rgb)[:, :1] / 50 - 1


@register_tool
class Colorize(EnhanceTool):
    name = "colorize"
    summary = "colorization: gives a black-and-white photo plausible colours (the photo's own lightness is kept)"
    colour_input = False

    def channels(self) -> tuple[int, int]:
        return 1, 2

    def make_pair(self, clean: torch.Tensor, gen: torch.Generator, *, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        clean = F.interpolate(clean, scale_factor=1 / TRAIN_DOWNSCALE, mode="area")
        lab = rgb_to_lab(clean)
        return lab[:, :1] / 50 - 1, (lab[:, 1:] / AB_RANGE).clamp(-1, 1)

    def working_bytes(self, network, activation, size, *, scale, options):
        """The network at the working resolution, a and b at the photo's size (float32: 8 bytes
        a pixel) and one strip's colour conversion (about 100 bytes a pixel of float temporaries)."""
        w, h = size
        f = min(1.0, WORK_SIZE / max(h, w))
        small = max(1, round(h * f)) * max(1, round(w * f))
        return activation(small) + small * 4 * 4 + w * h * 8 + min(w * h, STRIP_PIXELS) * 100

    def infer(self, runner: Runner, pixels: np.ndarray, *, scale: int, options: InferenceOptions,
              progress: Progress = None) -> np.ndarray:
        h, w = pixels.shape[:2]
        f = min(1.0, WORK_SIZE / max(h, w))
        # 1. The network sees the photo at the working resolution (never more than WORK_SIZE on a side).
        if f < 1:
            small = _area_resize(pixels, (max(1, round(h * f)), max(1, round(w * f))))
        else:
            small = _as_float(pixels)
        _, align = network_geometry(runner)
        light = lightness(small)
        sh, sw = light.shape[-2:]
        pad_h, pad_w = -sh % align, -sw % align  # a network that pixel-unshuffles needs even sizes
        if pad_h or pad_w:
            light = F.pad(light, (0, pad_w, 0, pad_h), mode="replicate")
        ab = runner(light.to(runner.device)).cpu()[..., :sh, :sw]
        # 2. Its a, b at the photo's size (8 bytes a pixel: the one full-size float buffer) ...
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False) if f < 1 else ab
        ab = ab.clamp_(-1, 1).mul_(AB_RANGE)
        # 3. ... joined with the photo's own lightness strip by strip, into the uint8 result: the
        # colour conversions work pixel by pixel, so strips give the whole image's numbers while
        # their float temporaries stay the size of one strip.
        out = np.empty((h, w, 3), dtype=np.uint8)
        rows = max(1, STRIP_PIXELS // w)
        for top in range(0, h, rows):
            part = _as_float(pixels[top:top + rows])
            lab = torch.cat([rgb_to_lab(part)[:, :1], ab[:, :, top:top + rows]], 1)
            rgb = lab_to_rgb(lab)[0].mul_(255).round_().to(torch.uint8).permute(1, 2, 0)
            out[top:top + rows] = rgb.numpy()
        if progress is not None:
            progress(1, 1)
        return out


def _as_float(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (h, w, 3) -> float32 (1, 3, h, w) in [0, 1]."""
    return torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1)[None].float().div(255)


def _area_resize(pixels: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """uint8 (H, W, 3) -> float32 (1, 3, h, w) in [0, 1], area-averaged (``F.interpolate(mode="area")``)
    one output row at a time.

    Area interpolation is adaptive average pooling: output row i averages input rows
    floor(i H / h) .. ceil((i + 1) H / h) - 1, so each output row needs only its own input rows
    (the same sums in the same order), and the float copy of the photo never exists whole."""
    h_in = pixels.shape[0]
    h, w = size
    out = torch.empty(1, 3, h, w)
    for r in range(h):
        lo, hi = (r * h_in) // h, -(-((r + 1) * h_in) // h)
        out[:, :, r:r + 1] = F.adaptive_avg_pool2d(_as_float(pixels[lo:hi]), (1, w))
    return out
