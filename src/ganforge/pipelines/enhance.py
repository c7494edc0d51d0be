"""Photo enhancement: ``ganforge.load("photo-upscale-x4")(image, tile=512)`` returns a PIL image.

An :class:`EnhancePipeline` wraps a network trained by the ``enhance`` task and its tool
(``enhance/``: upscale, denoise, restore, colorize). It takes a PIL image, a uint8 array or a
:class:`~ganforge.data.photoio.Photo` of any size and mode and:

1. splits off the alpha channel (resized to the output size, never fed to the network);
2. gives the network RGB (grey inputs repeated to three channels);
3. runs the tool's inference: tiles with overlap and blending (``tiling.py``), a
   noise level, a working resolution;
4. turns the result back to grey when the input was grey and the tool keeps colour as it is
   (everything but colorize), and keeps the photo's ICC profile, EXIF and dpi.

Precision and memory format follow the machine unless asked (``precision``): bf16 with
channels-last on CPUs with AMX, fp32 elsewhere, channels-last wherever it is faster
(``docs/enhance.md`` has the PSNR and speed of each).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import Field, create_model

from ..data.photoio import Photo
from ..enhance import TOOLS, EnhanceTool, InferenceOptions
from ..runtime import Runner
from .base import register_pipeline
from .image import ImagePipeline, Progress, TiledOptions, as_photo

# The options a photo tool may add to TiledOptions (EnhanceTool.options names them).
TOOL_FIELDS: dict[str, tuple[Any, Any]] = {
    "noise_level": (float | None, Field(default=None, ge=0, le=255, description="the noise's sigma on 0..255 if "
                                                                                 "known; empty: blind")),
    "scale": (int | None, Field(default=None, ge=1, le=8, description="output scale; empty: the model's own")),
}


@functools.cache
def enhance_options(tool: str) -> type[TiledOptions]:
    """The options model of a photo tool: tile, overlap, precision and the tool's own
    (denoise: ``noise_level``; restore: ``scale``); one class per tool, so its JSON schema is stable."""
    extra = {name: TOOL_FIELDS[name] for name in TOOLS.get(tool).options}
    return create_model(f"{tool.title()}Options", __base__=TiledOptions, __module__=__name__, **extra)


@register_pipeline
class EnhancePipeline(ImagePipeline):
    pipeline_kind = "enhance"

    # ------------------------------------------------------------------------------ settings
    @property
    def tool(self) -> EnhanceTool:
        return TOOLS.get(self.config.tool)

    @property
    def scale(self) -> int:
        return int(self.config.scale)

    @property
    def options_model(self) -> type[TiledOptions]:
        return enhance_options(self.tool.name)

    # ---------------------------------------------------------------------------------- use
    def check(self, options: TiledOptions) -> None:
        """The output scale must be one this model gives (restore: 1x or its own; others: their own)."""
        self.tool.output_scale(self.scale, self.inference(options))

    @staticmethod
    def inference(options: TiledOptions) -> InferenceOptions:
        """The tool-level options (``enhance.InferenceOptions``) of validated pipeline options."""
        return InferenceOptions(**options.model_dump(exclude={"precision"}))

    def output_size(self, size: tuple[int, int], options: TiledOptions) -> tuple[int, int]:
        """(width, height) of the result for an input of ``size`` (options already checked)."""
        s = self.tool.output_scale(self.scale, self.inference(options))
        return size[0] * s, size[1] * s

    def working_bytes(self, size: tuple[int, int], options: TiledOptions) -> int:
        """The tool's own figure (tiles, or colorize's working resolution)."""
        return self.tool.working_bytes(self.network, self.activation_bytes, size, scale=self.scale,
                                       options=self.inference(options))

    @torch.no_grad()
    def run(self, photo: Photo, options: TiledOptions, runner: Runner, progress: Progress = None) -> Photo:
        """The photo enhanced, metadata and alpha carried over (see the module docstring)."""
        rgb = np.repeat(photo.pixels[:, :, None], 3, axis=2) if photo.grey else photo.pixels
        out = self.tool.infer(runner, rgb, scale=self.scale, options=self.inference(options), progress=progress)
        if photo.grey and self.tool.colour_input:
            out = np.asarray(Image.fromarray(out).convert("L"))
        return photo.with_pixels(out)

    def onnx_spec(self):
        """The network as the tool runs it: (N, C_in, H, W) in [-1, 1], C_in including any
        extra channel the tool builds (denoise's noise-level map), H and W multiples of the
        alignment -> (N, C_out, scale H, scale W)."""
        from .onnx import image_spec

        c_in, c_out = int(self.config.model.g["in_channels"]), int(self.config.model.g["out_channels"])
        return image_spec(self.network, in_channels=c_in, metadata={
            "tool": self.tool.name, "scale": str(self.scale), "in_channels": str(c_in), "out_channels": str(c_out),
            "does": self.tool.summary.format(scale=self.scale)})

    # ---------------------------------------------------------------------------- describing
    def card_summary(self, info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        cfg = info["config"]
        tool = TOOLS.get(cfg["tool"])
        rows = [("tool", cfg["tool"]), ("scale", f"{cfg['scale']}x"), ("network", cfg["model"]["generator"]),
                ("loss", ", ".join(f"{k} {v}" for k, v in cfg["loss"].items() if k.endswith("weight") and v))]
        return f"A photo {cfg['tool']} model ({tool.summary.format(scale=cfg['scale'])})", rows

    def usage(self, name: str) -> str:
        return f"ganforge apply {name} photo.jpg --out result.jpg"

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "kind": "enhance", "family": self.config.model.generator,
                "tool": self.tool.name, "scale": self.scale,
                "does": self.tool.summary.format(scale=self.scale), "precision": self.precision,
                "channels_last": self.runner.channels_last,
                "in_channels": int(self.config.model.g["in_channels"]),
                "out_channels": int(self.config.model.g["out_channels"])}
