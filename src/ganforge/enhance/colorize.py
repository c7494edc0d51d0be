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

    def infer(self, runner: Runner, pixels: np.ndarray, *, scale: int, options: InferenceOptions,
              progress: Progress = None) -> np.ndarray:
        rgb = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1)[None].float().div(255)
        h, w = rgb.shape[-2:]
        lab = rgb_to_lab(rgb)
        f = min(1.0, WORK_SIZE / max(h, w))
        small = F.interpolate(rgb, size=(max(1, round(h * f)), max(1, round(w * f))), mode="area") if f < 1 else rgb
        _, align = network_geometry(runner)
        light = lightness(small)
        sh, sw = light.shape[-2:]
        pad_h, pad_w = -sh % align, -sw % align  # a network that pixel-unshuffles needs even sizes
        if pad_h or pad_w:
            light = F.pad(light, (0, pad_w, 0, pad_h), mode="replicate")
        ab = runner(light.to(runner.device)).cpu()[..., :sh, :sw]
        ab = F.interpolate(ab, size=(h, w), mode="bilinear", align_corners=False) if f < 1 else ab
        out = lab_to_rgb(torch.cat([lab[:, :1], ab.clamp(-1, 1) * AB_RANGE], 1))
        if progress is not None:
            progress(1, 1)
        return out[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).numpy()
