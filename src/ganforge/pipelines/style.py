"""Style transfer: ``ganforge.load("style-painting")(image, strength=0.5)`` returns a PIL image.

A :class:`StylePipeline` wraps the photo -> art generator of an unpaired translation run
(``task: unpaired``, CycleGAN's ``G_AB``; the bundled ``style-*`` models). It takes a PIL image,
a uint8 array or a :class:`~ganforge.data.photoio.Photo` of any size and:

1. splits off the alpha channel (kept as it is) and gives the network RGB (grey repeated);
2. makes a thumbnail of the whole photo (long side :data:`THUMBNAIL`) whose instance-norm
   statistics every tile uses (Thumbnail Instance Normalization, Chen et al. 2022; see
   ``models/resnet_gen.py``), so a 24 MP photo runs in tiles, with the tile's memory bound, and
   looks like one picture, not a patchwork of tiles each normalised on its own;
3. runs the tiles with overlap and blending (``tiling.py``);
4. applies ``strength`` (:func:`strength_blend`) inside each tile, and keeps the photo's size,
   ICC profile, EXIF and dpi. The result is colour (a grey photo gets the style's colours).

Strength. ``strength`` 0 is the photo, 1 the network's output. A pixel blend
``(1 - s) photo + s art`` washes out at mid strengths: where the two disagree (the art's brush
texture against the photo's fine detail), the average of two uncorrelated patterns has only
``sqrt((1 - s)^2 + s^2)`` of their contrast (71 % at s = 0.5), so a half-strength result looks
like a faded double exposure. :func:`strength_blend` blends the local means (colour, tone)
linearly and the detail around them (each minus its 5 x 5 local mean) with the same weights, then
rescales the blended detail, per pixel and channel, to the weighted local contrast of the two
(the idea of Heitz and Neyret 2018's variance-preserving blending, with local statistics rather
than an assumption of no correlation, so edges the photo and the art share are not
over-sharpened). ``bench/style.py`` measures both against the style classifier and the content
scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import Field
from torch import nn

from ..data.photoio import Photo
from ..enhance.base import network_geometry, plan_and_run_tiles, tiled_working_bytes
from ..runtime import Runner, TorchRunner
from .base import register_pipeline
from .image import ImagePipeline, Progress, TiledOptions

THUMBNAIL = 256  # long side of the thumbnail whose statistics the tiles use (the art scale the models trained at)
BLEND_RADIUS = 2  # strength_blend's local mean: a (2r + 1) x (2r + 1) box
MAX_GAIN = 2.0  # strength_blend never raises local contrast more than this


class StyleOptions(TiledOptions):
    """How a photo is stylised: in tiles (``TiledOptions``), at a ``strength``, with the
    normalisation statistics of a ``thumbnail`` of the whole photo."""

    strength: float = Field(default=1.0, ge=0, le=1, description="0 is the photo, 1 the full style; in between, "
                                                                 "colour and tone blend and local contrast is kept")
    thumbnail: int = Field(default=THUMBNAIL, ge=16, le=4096, description="long side in pixels of the thumbnail "
                                                                          "whose statistics normalise every tile")


def _local_mean(x: torch.Tensor, radius: int = BLEND_RADIUS) -> torch.Tensor:
    """Mean over a (2r + 1)^2 box, edges mirrored (reflection needs r < the side; replicate is safe)."""
    k = 2 * radius + 1
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), k, stride=1)


def pixel_blend(photo: torch.Tensor, art: torch.Tensor, strength: float) -> torch.Tensor:
    """``(1 - s) photo + s art``: the baseline :func:`strength_blend` is measured against."""
    return photo.lerp(art, strength)


def strength_blend(photo: torch.Tensor, art: torch.Tensor, strength: float) -> torch.Tensor:
    """The photo at ``strength`` 0, the art at 1, local contrast kept in between (module docstring).

    ``photo``, ``art``: float (N, C, H, W) in [-1, 1]; returns the same shape, clamped to [-1, 1]."""
    if strength >= 1.0:
        return art
    if strength <= 0.0:
        return photo
    s = float(strength)
    mean_p, mean_a = _local_mean(photo), _local_mean(art)
    detail_p, detail_a = photo - mean_p, art - mean_a
    mixed = detail_p.lerp(detail_a, s)
    want = (1 - s) * _local_mean(detail_p.square()).sqrt() + s * _local_mean(detail_a.square()).sqrt()
    have = _local_mean(mixed.square()).sqrt()
    gain = (want / have.clamp_min(1e-4)).clamp(1.0, MAX_GAIN)
    return (mean_p.lerp(mean_a, s) + gain * mixed).clamp(-1.0, 1.0)


def thumbnail_of(pixels: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, h, w) in [-1, 1], its long side at most ``size`` (area-averaged)."""
    height, width = pixels.shape[:2]
    scale = min(1.0, size / max(height, width))
    image = Image.fromarray(pixels)
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)
    x = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)[None].float()
    return x.mul(2.0 / 255.0).sub(1.0)


class ThumbnailNetwork(nn.Module):
    """``forward(tile, thumbnail)``: the generator on a tile with the thumbnail's normalisation
    (``ResnetGenerator.forward_thumbnail``); what the pipeline runs and ONNX exports. A generator
    without that method (no instance norm to fix) runs on the tile alone."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.uses_thumbnail = hasattr(generator, "forward_thumbnail")
        radius, align = network_geometry(generator)
        self.receptive_radius = radius + BLEND_RADIUS * 2  # strength_blend's box and its variance box
        self.alignment = align

    def forward(self, x: torch.Tensor, thumb: torch.Tensor) -> torch.Tensor:
        if self.uses_thumbnail:
            return self.generator.forward_thumbnail(x, thumb)
        return self.generator(x)


@register_pipeline
class StylePipeline(ImagePipeline):
    pipeline_kind = "style"
    Options = StyleOptions

    @property
    def style(self) -> str:
        """The style's name: the model's name without ``style-`` (``painting``), or the data set's."""
        name = str(self.config.name or self.config.data.dataset)
        return name[len("style-"):] if name.startswith("style-") else name

    def torch_runner(self, precision: str | None) -> Runner:
        """The generator with thumbnail normalisation, ``forward(tile, thumbnail)``, at ``precision``."""
        return TorchRunner(ThumbnailNetwork(self.network), precision or "fp32", input_names=("input", "thumbnail"))

    # ---------------------------------------------------------------------------------- use
    def working_bytes(self, size: tuple[int, int], options: StyleOptions) -> int:
        """The tiles' (as the photo tools', planned for the runner's geometry), the strength
        blend's float copies of one tile, and the thumbnail."""
        tiles = tiled_working_bytes(ThumbnailNetwork(self.network), self.activation_bytes, size, scale=1,
                                    in_channels=3, tile=options.tile, overlap=options.overlap)
        tile = min(size[0] * size[1], (options.tile or max(size)) ** 2)
        return tiles + tile * 3 * 4 * 4 + THUMBNAIL * THUMBNAIL * 3 * 4 * 2

    def probe_network(self) -> nn.Module:
        return ThumbnailNetwork(self.network)

    def probe_inputs(self, side: int) -> tuple[torch.Tensor, ...]:
        """A tile and a thumbnail half its side: scaled up to a 512 tile, the thumbnail's part of
        the figure is a 256 thumbnail's (THUMBNAIL), what the pipeline uses."""
        c = int(self.config.model.g["in_channels"])
        return torch.zeros(1, c, side, side), torch.zeros(1, c, max(1, side // 2), max(1, side // 2))

    @torch.no_grad()
    def run(self, photo: Photo, options: StyleOptions, runner: Runner, progress: Progress = None) -> Photo:
        """The photo in the style, at its own size, metadata and alpha carried over."""
        rgb = np.repeat(photo.pixels[:, :, None], 3, axis=2) if photo.grey else photo.pixels
        thumb = thumbnail_of(rgb, options.thumbnail).to(runner.device)
        strength = float(options.strength)
        takes_thumb = len(runner.input_names) == 2  # an ONNX export of a generator without instance norm: the tile alone

        def fn(x: torch.Tensor) -> torch.Tensor:
            x = x.to(runner.device)
            art = runner(x, thumb) if takes_thumb else runner(x)
            return strength_blend(x, art.contiguous(), strength)

        out = plan_and_run_tiles(fn, runner, rgb, scale=1, tile=options.tile, overlap=options.overlap,
                                 progress=progress)
        return photo.with_pixels(out)

    # ------------------------------------------------------------------------------- exporting
    def onnx_spec(self):
        """The generator with thumbnail normalisation: inputs ``input`` (N, 3, H, W) and
        ``thumbnail`` (1, 3, h, w), both in [-1, 1] with dynamic sizes -> (N, 3, H, W) in [-1, 1].
        ``strength`` is applied outside the graph (it is a few pooling ops on the output)."""
        from .onnx import PARITY_SIZES, OnnxSpec, image_spec

        c = int(self.config.model.g["in_channels"])
        meta = {"in_channels": str(c), "out_channels": str(c), "style": self.style,
                "does": f"turns photos into {self.style} art"}
        wrapped = ThumbnailNetwork(self.network).eval()
        if not wrapped.uses_thumbnail:
            return image_spec(self.network, in_channels=c, metadata=meta)  # the tile alone
        thumbs = ((32, 40), (57, 31))

        def examples(i: int) -> tuple[torch.Tensor, ...]:
            gen = torch.Generator().manual_seed(i)
            (h, w), (th, tw) = PARITY_SIZES[i], thumbs[i]
            return (torch.rand(1 + i, c, h, w, generator=gen).mul(2).sub(1),
                    torch.rand(1, c, th, tw, generator=gen).mul(2).sub(1))

        axes = {0: "batch", 2: "height", 3: "width"}
        return OnnxSpec(wrapped, ("input", "thumbnail"),
                        {"input": axes, "thumbnail": {2: "thumb_height", 3: "thumb_width"},
                         "output": {0: "batch", 2: "out_height", 3: "out_width"}},
                        examples, tuple(f"{h}x{w}" for h, w in PARITY_SIZES),  # type: ignore[arg-type]
                        {"receptive_radius": str(wrapped.receptive_radius), "alignment": str(wrapped.alignment),
                         **meta})

    # ---------------------------------------------------------------------------- describing
    def card_summary(self, info: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
        cfg = info["config"]
        model = cfg["model"]
        g = model["g"]
        rows = [("style", self.style),
                ("generator", f"{model['generator']}, width {g.get('width')}, {g.get('blocks')} residual blocks, "
                              f"{g.get('upsample', 'resize')} upsampling"),
                ("discriminator", f"{model['discriminator']}, {model['d'].get('layers')} stride-2 layers"),
                ("loss", f"{cfg['loss']['name']}, cycle x{cfg['loss'].get('cycle_weight')}, "
                         f"identity {cfg['loss'].get('identity')} x cycle")]
        return f"A style model: photos into {self.style} art (unpaired translation, CycleGAN)", rows

    def usage(self, name: str) -> str:
        return f"ganforge apply {name} photo.jpg --out art.png --strength 0.75"

    def describe(self) -> dict[str, Any]:
        c = int(self.config.model.g["in_channels"])
        return {**super().describe(), "kind": "style", "family": self.config.model.generator, "style": self.style,
                "does": f"turns photos into {self.style} art", "precision": self.precision,
                "in_channels": c, "out_channels": c}
