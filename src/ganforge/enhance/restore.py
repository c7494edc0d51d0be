"""Blind restoration of old and damaged photos: blur, downscaling, noise, JPEG, faded colour,
scratches and dust, removed in one pass.

Training pairs come from Real-ESRGAN's second-order degradation model (Wang et al. 2021) with
old-photo damage in front (``data.degradations.chains.second_order``); the network is trained
to output 2x the input size. For a 1x result the 2x output is downscaled with a Lanczos
filter, which keeps the detail the network restored (a 1x network would have to squeeze it
into the damaged image's pixel grid).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from ..data.degradations import second_order
from ..errors import GanforgeError
from ..runtime import Runner
from .base import EnhanceTool, InferenceOptions, Progress, register_tool, tiled, to_signed


@register_tool
class Restore(EnhanceTool):
    name = "restore"
    summary = "restoration of old or damaged photos: blur, noise, JPEG, fading, scratches and dust; output 1x or 2x"
    options = ("scale",)
    scales = (2,)

    def make_pair(self, clean: torch.Tensor, gen: torch.Generator, *, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
        low = second_order(clean, gen, scale=scale).mul(255).round().div(255)
        return to_signed(low), to_signed(clean)

    def output_scale(self, trained_scale: int, options: InferenceOptions) -> int:
        if options.scale is None:
            return trained_scale
        if options.scale not in (1, trained_scale):
            raise GanforgeError(f"restore gives 1x or {trained_scale}x output, not {options.scale}x")
        return options.scale

    def working_bytes(self, network, activation, size, *, scale, options):
        """The tiled path's, plus, at 1x, the network's result at its own scale (uint8 and
        Pillow's 4-byte copy) that is resized down to the photo."""
        work = super().working_bytes(network, activation, size, scale=scale, options=options)
        if self.output_scale(scale, options) == scale:
            return work
        return work + size[0] * size[1] * scale * scale * (3 + 4)

    def infer(self, runner: Runner, pixels: np.ndarray, *, scale: int, options: InferenceOptions,
              progress: Progress = None) -> np.ndarray:
        out = tiled(runner, pixels, scale=scale, options=options, progress=progress)
        if self.output_scale(scale, options) == scale:
            return out
        h, w = pixels.shape[:2]
        return np.asarray(Image.fromarray(out).resize((w, h), Image.Resampling.LANCZOS))
