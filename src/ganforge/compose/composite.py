"""Placing a cut-out on a background so that it looks like it belongs there.

:func:`composite` takes two :class:`~ganforge.data.photoio.Photo` objects and
:class:`CompositeOptions`, and returns the background with the subject in it. The steps:

1. **Matte.** The subject's alpha decides what is subject (``matte="alpha"``; an image without
   transparency is refused), or a uniform border colour is keyed out (``matte="border"``: the
   transparent part is what is close to that colour *and* connected to the border, so a white
   shirt on a white backdrop stays opaque). The subject is cropped to what its alpha covers.
2. **Place.** Scaled (Lanczos, premultiplied) and centred at ``x, y`` (the background's centre
   by default); a part beyond the background is cut off, a subject larger than the background
   or wholly outside it is refused.
3. **Harmonise.** Reinhard colour transfer in Lab toward the background around the subject
   (``harmonize``: 0 keeps the subject's colours, 1 takes the background's statistics).
4. **Blend.** Poisson (gradient-domain) blending inside the footprint (``compose.poisson``):
   ``normal`` keeps the subject's gradients and takes the background's light at its edge,
   ``mixed`` also lets stronger background texture through, ``none`` skips it. ``blend_strength``
   takes that far of the way (1: seamless cloning as Pérez et al. and OpenCV's ``seamlessClone``;
   a flat-coloured subject then takes the background's colour, so the default goes a quarter of the way).
5. **Feather and shadow.** The alpha's rim is softened inward over ``feather`` pixels (so no
   pixel outside the footprint changes), and an optional contact shadow, the subject's alpha
   flattened onto the ground at its base, blurred and offset, darkens the background under it.
6. **Over.** ``result = background * (1 - shadow) * (1 - a) + blended * a``.

Memory and time follow the subject's bounding box (plus the shadow's and the colour window's
margins), not the background: only those rectangles become float tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, ValidationError

from ..data.photoio import Photo, read_photo
from ..errors import GanforgeError
from ..pipelines.image import as_photo, option_error
from ..schema import StrictModel
from . import poisson
from .colour import box3, gaussian_blur, transfer_colour

Progress = Callable[[int, int], None] | None  # (done, total) units of work
SHADOW_SQUASH = 0.15  # the contact shadow's height, as a fraction of the subject's
BORDER_UNIFORM = 0.9  # matte="border": this share of the border must be within KEY_HIGH of its colour
KEY_LOW, KEY_HIGH = 12.0, 40.0  # RGB distance (0..255): at most KEY_LOW is background, from KEY_HIGH on subject


class CompositeError(GanforgeError):
    """A subject and background (or placement) that cannot be composited; the message says what is accepted."""


class CompositeOptions(StrictModel):
    """How a subject is placed and blended (the CLI's flags, the Python keywords, the studio's parameters)."""

    x: int | None = Field(default=None, ge=-1_000_000, le=1_000_000,
                          description="the subject's centre, in background pixels from the left; empty: the centre")
    y: int | None = Field(default=None, ge=-1_000_000, le=1_000_000,
                          description="the subject's centre, in background pixels from the top; empty: the centre")
    scale: float = Field(default=1.0, gt=0, le=100, description="the subject's size factor (after cropping to its alpha)")
    blend: Literal["normal", "mixed", "none"] = Field(
        default="normal", description="Poisson blending: normal (the subject's gradients), mixed (the stronger of the "
                                      "subject's and the background's), none (colour transfer and alpha only)")
    blend_strength: float = Field(default=0.25, ge=0, le=1,
                                  description="how far Poisson blending moves the subject's colours toward the "
                                              "background's at its edge: 1 is seamless cloning, 0 the subject as it is",
                                  json_schema_extra={"x-ganforge": {"widget": "slider"}})
    harmonize: float = Field(default=0.3, ge=0, le=1, description="colour transfer toward the background: 0 keeps the "
                                                                  "subject's colours, 1 takes the background's",
                             json_schema_extra={"x-ganforge": {"widget": "slider"}})
    feather: int = Field(default=2, ge=0, le=200, description="pixels over which the subject's edge fades in")
    matte: Literal["alpha", "border"] = Field(
        default="alpha", description="what is subject: its alpha channel, or everything but a uniform border colour "
                                     "(a render on black or white)")
    shadow: bool = Field(default=False, description="a contact shadow on the ground under the subject")
    shadow_opacity: float = Field(default=0.5, ge=0, le=1, description="how dark the shadow is at its darkest",
                                  json_schema_extra={"x-ganforge": {"widget": "slider"}})
    shadow_blur: float | None = Field(default=None, ge=0, le=1000,
                                      description="the shadow's softness in pixels; empty: 3% of the subject's height")
    shadow_dx: int = Field(default=0, ge=-100_000, le=100_000, description="the shadow's offset to the right, pixels")
    shadow_dy: int = Field(default=0, ge=-100_000, le=100_000, description="the shadow's offset downward, pixels")


@dataclass(frozen=True)
class Box:
    """A rectangle [x0, x1) x [y0, y1) in background pixels."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def grow(self, by: int, within: "Box") -> "Box":
        return Box(max(within.x0, self.x0 - by), max(within.y0, self.y0 - by),
                   min(within.x1, self.x1 + by), min(within.y1, self.y1 + by))

    def clip(self, within: "Box") -> "Box":
        return self.grow(0, within)

    def slices(self, origin: "Box | None" = None) -> tuple[slice, slice]:
        """(rows, cols) of this box in an array covering ``origin`` (the background by default)."""
        ox, oy = (origin.x0, origin.y0) if origin else (0, 0)
        return slice(self.y0 - oy, self.y1 - oy), slice(self.x0 - ox, self.x1 - ox)


# 1. Matte ------------------------------------------------------------------------------------


def subject_rgba(photo: Photo, matte: str, label: str = "the subject") -> tuple[np.ndarray, np.ndarray]:
    """(rgb uint8 (H, W, 3), alpha uint8 (H, W)) of the subject under ``matte``."""
    rgb = np.repeat(photo.pixels[..., None], 3, axis=2) if photo.grey else photo.pixels
    if matte == "border":
        return border_matte(rgb, label)
    if photo.alpha is None:
        raise CompositeError(f"{label} has no transparency; accepted: an image with an alpha channel (PNG, WebP, TIFF, "
                             "GIF), or a subject on a plain border colour with --matte border")
    return rgb, photo.alpha


def border_matte(rgb: np.ndarray, label: str = "the subject") -> tuple[np.ndarray, np.ndarray]:
    """Key out the colour of ``rgb``'s border: (rgb with the key colour taken out of soft edges, alpha).

    The key is the border's median colour; at least ``BORDER_UNIFORM`` of the border must be within
    ``KEY_HIGH`` of it. Transparent is what is within ``KEY_HIGH`` of the key and connected to the
    border through such pixels, fading from 0 (``KEY_LOW``) to 1 (``KEY_HIGH``).
    """
    h, w = rgb.shape[:2]
    ring = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).astype(np.float32)
    key = np.median(ring, axis=0)
    near = np.linalg.norm(ring - key, axis=1) <= KEY_HIGH
    if near.mean() < BORDER_UNIFORM:
        raise CompositeError(f"the border of {label} is not one colour ({near.mean():.0%} of it is near "
                             f"rgb{tuple(int(v) for v in key)}); accepted with --matte border: a subject on a plain "
                             "background that touches every edge, else an image with an alpha channel")
    pixels = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1)
    dist = torch.linalg.vector_norm(pixels - torch.from_numpy(key)[:, None, None], dim=0)
    candidate = dist < KEY_HIGH
    reached = torch.zeros_like(candidate)
    reached[0, :], reached[-1, :], reached[:, 0], reached[:, -1] = (
        candidate[0, :], candidate[-1, :], candidate[:, 0], candidate[:, -1])
    # flood fill from the border through near-key pixels: dilate, keep the candidates, until stable
    for step in range(h + w):
        grown = torch.nn.functional.max_pool2d(reached[None, None].float(), 3, 1, 1)[0, 0].bool() & candidate
        if step % 8 == 0 and torch.equal(grown, reached):
            break
        reached = grown
    soft = ((dist - KEY_LOW) / (KEY_HIGH - KEY_LOW)).clamp(0, 1)
    alpha = torch.where(reached, soft, torch.ones_like(soft))
    # a soft edge pixel is a mix a * colour + (1 - a) * key: take the key back out
    keyed = torch.from_numpy(key)[:, None, None]
    clean = torch.where(alpha > 0, (pixels - (1 - alpha) * keyed) / alpha.clamp_min(1e-3), pixels).clamp(0, 255)
    return (clean.permute(1, 2, 0).round().to(torch.uint8).numpy(),
            (alpha * 255).round().to(torch.uint8).numpy())


def crop_to_alpha(rgb: np.ndarray, alpha: np.ndarray, label: str = "the subject") -> tuple[np.ndarray, np.ndarray]:
    """The subject cut to the rectangle its alpha covers (its size and centre are what shows)."""
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    if not len(rows):
        raise CompositeError(f"{label} is fully transparent; accepted: an image whose alpha shows something")
    ys, xs = slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)
    return rgb[ys, xs], alpha[ys, xs]


# 2. Place ------------------------------------------------------------------------------------


def scaled(rgb: np.ndarray, alpha: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The subject resized by ``scale`` (Lanczos; Pillow premultiplies RGBA for it, so no dark fringe)."""
    if scale == 1:
        return rgb, alpha
    h, w = alpha.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    img = Image.fromarray(np.dstack([rgb, alpha]), "RGBA").resize(size, Image.Resampling.LANCZOS)
    out = np.asarray(img)
    return np.ascontiguousarray(out[..., :3]), np.ascontiguousarray(out[..., 3])


def placement(size: tuple[int, int], background: tuple[int, int], options: CompositeOptions,
              original: tuple[int, int]) -> Box:
    """Where the scaled subject of ``size`` (w, h) lands on a ``background`` (w, h): its full box,
    which may reach beyond the background (the caller clips it)."""
    (sw, sh), (bw, bh) = size, background
    if sw > bw or sh > bh:
        fit = min(bw / original[0], bh / original[1])
        raise CompositeError(f"the subject is {sw} x {sh} at scale {options.scale:g}, larger than the {bw} x {bh} "
                             f"background; accepted: a subject that fits (scale {math.floor(fit * 1000) / 1000:g} "
                             "or less)")
    cx = bw / 2 if options.x is None else options.x
    cy = bh / 2 if options.y is None else options.y
    x0, y0 = math.floor(cx - sw / 2), math.floor(cy - sh / 2)
    box = Box(x0, y0, x0 + sw, y0 + sh)
    if box.x1 <= 0 or box.y1 <= 0 or box.x0 >= bw or box.y0 >= bh:
        raise CompositeError(f"a {sw} x {sh} subject centred at x={cx:g}, y={cy:g} lies outside the {bw} x {bh} "
                             f"background; accepted: a centre with part of the subject on it (x from {-sw // 2 + 1} to "
                             f"{bw + sw // 2 - 1}, y from {-sh // 2 + 1} to {bh + sh // 2 - 1})")
    return box


# 5. Feather and shadow ----------------------------------------------------------------------


def feathered(alpha: torch.Tensor, feather: int) -> torch.Tensor:
    """The alpha (H, W, 0..1) with its rim faded inward over about ``feather`` pixels: the minimum of
    the alpha and its blur, so nothing outside the footprint becomes visible."""
    if feather <= 0:
        return alpha
    return torch.minimum(alpha, gaussian_blur(alpha, feather / 2))


def contact_shadow(alpha: np.ndarray, box: Box, frame: Box, options: CompositeOptions) -> tuple[Box, torch.Tensor] | None:
    """The shadow's strength (0..opacity) over a box of the background, or None when it misses it.

    The footprint is the subject's alpha flattened to ``SHADOW_SQUASH`` of its height, centred on
    the subject's base line, moved by (``shadow_dx``, ``shadow_dy``) and blurred."""
    sh, sw = alpha.shape
    sigma = options.shadow_blur if options.shadow_blur is not None else 0.03 * sh
    fh = max(1, round(sh * SHADOW_SQUASH))
    flat = np.asarray(Image.fromarray(alpha).resize((sw, fh), Image.Resampling.BILINEAR), dtype=np.float32) / 255
    top = box.y1 - fh // 2 + options.shadow_dy
    left = box.x0 + options.shadow_dx
    pad = math.ceil(3 * sigma) + 1
    full = Box(left - pad, top - pad, left + sw + pad, top + fh + pad)
    shown = full.clip(frame)
    if shown.width <= 0 or shown.height <= 0:
        return None
    canvas = torch.zeros(full.height, full.width)
    canvas[pad : pad + fh, pad : pad + sw] = torch.from_numpy(flat)
    strength = gaussian_blur(canvas, sigma).clamp(0, 1) * options.shadow_opacity
    return shown, strength[shown.slices(full)]


# The whole composite ------------------------------------------------------------------------


def _float(pixels: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, 3) -> float (3, H, W) in 0..1."""
    t = torch.from_numpy(pixels.astype(np.float32)) / 255  # a copy: the pixels may be read-only
    return t.expand(3, *t.shape) if t.ndim == 2 else t.permute(2, 0, 1)


def _bleed(rgb: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Colours under the transparent ring around the footprint: the mean of their footprint
    neighbours, so the guidance has no jump into whatever the file held there."""
    m = inside.to(rgb.dtype)[None]
    count = box3(m)
    fill = box3(rgb * m) / count.clamp_min(1)
    return torch.where((m == 0) & (count > 0), fill, rgb)


def composite(subject: Photo, background: Photo, options: CompositeOptions | None = None,
              progress: Progress = None, *, label: str = "the subject") -> Photo:
    """``subject`` placed on ``background`` (see the module's steps); the background's size,
    format, metadata and alpha are kept. Grey stays grey when both are grey. ``label`` names the
    subject in messages (its file).

    Raises:
        CompositeError: no transparency (``matte="alpha"``), a fully transparent subject, a border
            that is not one colour (``matte="border"``), a subject larger than the background or
            placed wholly outside it.
    """
    options = options or CompositeOptions()
    rgb, alpha = crop_to_alpha(*subject_rgba(subject, options.matte, label), label)
    original = (alpha.shape[1], alpha.shape[0])
    rgb, alpha = scaled(rgb, alpha, options.scale)
    frame = Box(0, 0, *background.size)
    full = placement((alpha.shape[1], alpha.shape[0]), background.size, options, original)
    box = full.clip(frame)
    rgb, alpha = rgb[box.slices(full)], alpha[box.slices(full)]
    if background.grey and not subject.grey:
        out = np.repeat(background.pixels[..., None], 3, axis=2)  # a colour subject makes the picture colour
    else:
        out = background.pixels.copy()
    out_alpha = None if background.alpha is None else background.alpha.copy()

    # 3. harmonise: the subject's colour statistics toward the background around it
    a = torch.from_numpy(alpha).float() / 255
    window = box.grow(max(box.width, box.height) // 2, frame)
    seen = torch.ones(window.height, window.width)
    seen[box.slices(window)] = 1 - a
    fg = transfer_colour(_float(rgb), a, _float(background.pixels[window.slices()]), seen, options.harmonize)

    # 4. blend in the footprint, on the subject's box and a one-pixel ring (the boundary)
    ring = box.grow(1, frame)
    inside = torch.zeros(ring.height, ring.width, dtype=torch.bool)
    a_ring = torch.zeros(ring.height, ring.width)
    a_ring[box.slices(ring)] = feathered(a, options.feather)
    inside[box.slices(ring)] = a > 0
    source = torch.zeros(3, ring.height, ring.width)
    source[(slice(None), *box.slices(ring))] = fg
    target = _float(background.pixels[ring.slices()])
    if options.blend != "none" and options.blend_strength > 0:
        solved = poisson.solve(_bleed(source, inside), target, inside, options.blend, progress=progress)
        source = source + options.blend_strength * (solved - source)
    source = source.clamp(0, 1)

    # 5. the shadow darkens the background only, before the subject goes over it
    rows, cols = ring.slices()
    base = _float(out[rows, cols])
    if options.shadow and options.shadow_opacity > 0:
        shade = contact_shadow(alpha, box, frame, options)
        if shade is not None:
            where, strength = shade
            ys, xs = where.slices()
            region = _float(out[ys, xs]) * (1 - strength)
            out[ys, xs] = _to_uint8(region, out.ndim)
            base = _float(out[rows, cols])

    # 6. over
    over = base * (1 - a_ring) + source * a_ring
    out[rows, cols] = _to_uint8(over, out.ndim)
    if out_alpha is not None:
        under = torch.from_numpy(out_alpha[rows, cols]).float() / 255
        out_alpha[rows, cols] = ((a_ring + under * (1 - a_ring)) * 255).round().to(torch.uint8).numpy()
    if progress is not None:
        progress(1, 1)
    return Photo(pixels=out, alpha=out_alpha, grey=out.ndim == 2, format=background.format, exif=background.exif,
                 icc_profile=background.icc_profile, info=dict(background.info))


def _to_uint8(x: torch.Tensor, ndim: int) -> np.ndarray:
    """float (3, H, W) in 0..1 -> uint8 (H, W, 3), or (H, W) (their mean) for a grey picture."""
    x = x.clamp(0, 1) * 255
    if ndim == 2:
        return x.mean(dim=0).round().to(torch.uint8).numpy()
    return x.round().to(torch.uint8).permute(1, 2, 0).numpy()


def composite_options(**values) -> CompositeOptions:
    """Validated options; an ``OptionError`` naming the option (and listing them) otherwise."""
    try:
        return CompositeOptions.model_validate(values)
    except ValidationError as err:
        raise option_error(err, CompositeOptions) from None


def composite_image(subject, background, *, progress: Progress = None, **options) -> Image.Image:
    """The Python API (``ganforge.composite``): ``subject`` and ``background`` as file paths (opened
    with the photo tools' checks), PIL images, uint8 arrays or Photos; ``options`` the fields of
    :class:`CompositeOptions`. A PIL image."""
    opts = composite_options(**options)

    def photo(image) -> Photo:
        return read_photo(image) if isinstance(image, (str, Path)) else as_photo(image)

    label = str(subject) if isinstance(subject, (str, Path)) else "the subject"
    return composite(photo(subject), photo(background), opts, progress, label=label).to_pil()


# Bytes a pixel, measured with bench/job_memory.py (composite cases):
DECODED_BYTES = 11  # a decoded upload: Pillow's image, its conversion and the uint8 copy
ENCODED_BYTES = 10  # the PNG encoder's copy and the file
BOX_BYTES = 560  # each pixel of the subject's box: float64 Poisson system and its solver's vectors (3 channels)
WINDOW_BYTES = 24  # each pixel of the colour-transfer window around the box (float32 RGB and Lab)


def memory(subject: tuple[int, int], background: tuple[int, int], options: CompositeOptions | None = None) -> int:
    """Peak bytes of one composite of a subject image of ``subject`` (width, height) on a
    background of ``background``, estimated before any work: both decoded, the result, the
    solve on the subject's scaled box (at most the background) and the colour window around it,
    then the PNG encoder. An upper bound: the subject's box is taken as its whole image."""
    options = options or CompositeOptions()
    sw, sh = subject
    bw, bh = background
    box = min(bw, max(1, round(sw * options.scale))) * min(bh, max(1, round(sh * options.scale)))
    window = min(bw * bh, 4 * box)
    during = (sw * sh + bw * bh) * DECODED_BYTES + box * (BOX_BYTES + 8) + window * WINDOW_BYTES
    return int(1.2 * (bw * bh * 4 + max(during, bw * bh * ENCODED_BYTES)))
