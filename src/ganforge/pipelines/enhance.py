"""Photo enhancement: ``ganforge.load("photo-upscale-x4")(image, tile=512)`` returns a PIL image.

An :class:`EnhancePipeline` wraps a network trained by the ``enhance`` task and its tool
(``enhance/``: upscale, denoise, restore, colorize). It takes a PIL image, a uint8 array or a
:class:`~ganforge.data.photoio.Photo` of any size and mode and:

1. splits off the alpha channel (resized to the output size, never fed to the network);
2. gives the network RGB (grey inputs repeated to three channels);
3. runs the tool's inference: tiles with overlap and blending (``pipelines/tiling.py``), a
   noise level, a working resolution;
4. turns the result back to grey when the input was grey and the tool keeps colour as it is
   (everything but colorize), and keeps the photo's ICC profile, EXIF and dpi.

Precision and memory format follow the machine unless asked (``precision``): bf16 with
channels-last on CPUs with AMX, fp32 elsewhere, channels-last wherever it is faster
(``docs/enhance.md`` has the PSNR and speed of each).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..data.photoio import Photo, photo_from_pil
from ..enhance import TOOLS, EnhanceTool, InferenceOptions
from ..enhance.base import Progress
from ..errors import GanforgeError
from ..runtime import default_channels_last, has_amx
from .base import Pipeline, register_pipeline

PRECISIONS = ("auto", "fp32", "bf16")


def auto_precision(device: torch.device) -> str:
    """bf16 where the hardware runs it natively and fast (AMX CPUs, CUDA with bf16), else fp32."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if has_amx() else "fp32"


def precision_runner(network: torch.nn.Module, precision: str) -> tuple[torch.nn.Module, str]:
    """``(what inference runs, the resolved precision)`` for ``auto``, ``fp32`` or ``bf16``:
    ``network`` itself, or a channels-last copy (bf16, and fp32 where channels-last is faster)
    carrying ``channels_last`` and ``autocast_dtype`` for ``enhance.base``. The network keeps its
    layout and fp32 weights for saving."""
    if precision not in PRECISIONS:
        raise GanforgeError(f"precision '{precision}' is not one of {', '.join(PRECISIONS)}")
    device = next(network.parameters()).device
    resolved = auto_precision(device) if precision == "auto" else precision
    if not (resolved == "bf16" or default_channels_last(device)):
        return network, resolved
    runner = copy.deepcopy(network).to(memory_format=torch.channels_last)
    runner.channels_last = True  # read by enhance.base
    runner.autocast_dtype = torch.bfloat16 if resolved == "bf16" else None
    return runner, resolved


@register_pipeline
class EnhancePipeline(Pipeline):
    pipeline_kind = "enhance"

    def __init__(self, network: torch.nn.Module, config, **kw) -> None:
        super().__init__(network, config, **kw)
        self.precision, self.requested_precision = "fp32", "auto"
        self.runner = self.network  # what inference runs: the network, or a bf16 copy of it
        self.set_precision("auto")

    # ------------------------------------------------------------------------------ settings
    @property
    def tool(self) -> EnhanceTool:
        return TOOLS.get(self.config.tool)

    @property
    def scale(self) -> int:
        return int(self.config.scale)

    def to(self, device: str | torch.device) -> "EnhancePipeline":
        super().to(device)
        return self.set_precision(self.requested_precision)

    def set_precision(self, precision: str = "auto") -> "EnhancePipeline":
        """``auto`` (what is fast here), ``fp32`` or ``bf16``. Channels-last goes with bf16, and
        with fp32 where it is faster (``runtime.default_channels_last``: AVX-512 CPUs and CUDA).

        bf16 runs a channels-last copy of the network under autocast (``enhance.base.precision``):
        convolutions in bf16, the input and the bicubic residual in fp32, and the fp32 weights
        (what ``save_pretrained`` writes) are never rounded."""
        self.runner, resolved = precision_runner(self.network, precision)
        self.precision, self.requested_precision = resolved, precision
        return self

    # ---------------------------------------------------------------------------------- use
    def __call__(self, image: Image.Image | np.ndarray | Photo, *, tile: int | None = 512, overlap: int | None = None,
                 noise_level: float | None = None, scale: int | None = None, progress: Progress = None) -> Image.Image:
        """Enhance one image; returns a PIL image (mode L, LA, RGB or RGBA like the input,
        except that colorize makes grey inputs colour). ``tile``: tile side in input pixels
        (None: the whole image at once); ``overlap``: pixels shared by neighbouring tiles
        (None: the network's receptive radius); ``noise_level``: denoise only, sigma on 0..255
        (None: blind); ``scale``: restore only, 1 or 2."""
        options = InferenceOptions(tile=tile, overlap=overlap, noise_level=noise_level, scale=scale)
        return self.enhance(as_photo(image), options, progress).to_pil()

    def check_options(self, options: InferenceOptions) -> int:
        """The output scale for ``options``; a one-line error for options this tool does not take."""
        if options.noise_level is not None:
            if self.tool.name != "denoise":
                raise GanforgeError(f"--noise-level is for denoise models, not {self.tool.name} models")
            if not 0 <= options.noise_level <= 255:
                raise GanforgeError(f"noise level must be a sigma between 0 and 255, got {options.noise_level}")
        if options.tile is not None and options.tile < 16:
            raise GanforgeError(f"tile must be at least 16 pixels (or none), got {options.tile}")
        if options.overlap is not None and options.overlap < 0:
            raise GanforgeError(f"overlap must be 0 or more pixels, got {options.overlap}")
        return self.tool.output_scale(self.scale, options)

    def output_size(self, size: tuple[int, int], options: InferenceOptions) -> tuple[int, int]:
        """(width, height) of the result for an input of ``size`` (options already checked)."""
        s = self.tool.output_scale(self.scale, options)
        return size[0] * s, size[1] * s

    @torch.no_grad()
    def enhance(self, photo: Photo, options: InferenceOptions, progress: Progress = None) -> Photo:
        """The photo enhanced, metadata and alpha carried over (see the module docstring)."""
        self.check_options(options)
        rgb = np.repeat(photo.pixels[:, :, None], 3, axis=2) if photo.grey else photo.pixels
        out = self.tool.infer(self.runner, rgb, scale=self.scale, options=options, progress=progress)
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
                "channels_last": bool(getattr(self.runner, "channels_last", False)),
                "in_channels": int(self.config.model.g["in_channels"]),
                "out_channels": int(self.config.model.g["out_channels"])}


def as_photo(image: Image.Image | np.ndarray | Photo) -> Photo:
    """A PIL image, uint8 array (H, W) / (H, W, 3) / (H, W, 4) or Photo -> a Photo."""
    if isinstance(image, Photo):
        return image
    if isinstance(image, Image.Image):
        return photo_from_pil(image)
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise GanforgeError(f"expected a uint8 array of shape (H, W), (H, W, 3) or (H, W, 4), got "
                                f"{image.dtype} {image.shape}")
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        return photo_from_pil(Image.fromarray(np.ascontiguousarray(image)))
    raise GanforgeError(f"expected a PIL image, a uint8 numpy array or a Photo, got {type(image).__name__}")
