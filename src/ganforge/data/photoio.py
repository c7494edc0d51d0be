"""Reading and writing users' photos for the photo tools (upscale, denoise, restore, colourise).

Unlike :func:`~ganforge.data.imageio.open_image`, which flattens everything to ``"L"``/``"RGB"``
for training, a :class:`Photo` keeps what a person expects to get back: the alpha channel,
greyscale, the EXIF block, the ICC colour profile, the dpi and PNG text chunks.

:func:`read_photo` runs the same checks as ``open_image``, in the same order (nothing
expensive happens to a file an earlier check refuses), plus one: a file with several frames
(animated GIF/WebP/APNG, multi-page TIFF) is refused, since a photo tool writes one image.
Inputs may be any of :data:`~ganforge.data.imageio.ALLOWED_FORMATS` (PNG, JPEG, BMP, GIF,
TIFF, WEBP, PPM); outputs are JPEG, PNG, WebP or TIFF (:data:`OUTPUT_FORMATS`).

:func:`write_photo` is atomic: the file is encoded in memory, then written to a temporary
file next to the target and renamed over it, so an existing output is only ever replaced by
a complete file.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, PngImagePlugin

from ..errors import GanforgeError
from ..fileio import atomic_write_bytes
from .imageio import MAX_BYTES, MAX_PIXELS, BadImageError, load_checked

# Output extension -> Pillow format.
OUTPUT_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}
# Largest side each encoder accepts (libjpeg: 65500, libwebp: 16383); PNG and TIFF have no
# practical limit at photo sizes.
_MAX_SIDE = {"JPEG": 65_500, "WEBP": 16_383}
# JPEG carries EXIF in one APP1 segment: 65535 bytes less the length field and "Exif\0\0".
_MAX_JPEG_EXIF = 65_527

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_READ_MODES = frozenset({"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "F"})
_READ_MODES |= _SIXTEEN_BIT_MODES

# EXIF tags that describe the file's pixel layout rather than the photo. A TIFF source's
# "EXIF" is its whole first directory (strip offsets, bits per sample, ...), and a JPEG's may
# hold a resolution and pixel size that the result will no longer have; dpi travels in
# ``Photo.info`` instead, and every encoder writes its own layout tags.
_LAYOUT_TAGS = frozenset({
    254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 282, 283, 284, 296, 317, 320, 322, 323, 324, 325,
    330, 338, 339, 340, 347, 513, 514, 530, 531, 532, 34675,
})
_EXIF_PIXEL_SIZE_TAGS = (ExifTags.Base.ExifImageWidth, ExifTags.Base.ExifImageHeight)
# PNG text keys that are metadata blocks of their own (XMP, ImageMagick's hex-encoded EXIF):
# they can carry a stale orientation that some viewers apply on top of the upright pixels.
_DROPPED_TEXT_PREFIXES = ("XML:com.adobe.xmp", "Raw profile type")
_MAX_TEXT_CHARS = 65_536  # PNG text worth carrying along (prompts, titles), not a payload


@dataclass
class Photo:
    """One decoded photo and the metadata worth writing back.

    ``pixels``: uint8 ``(H, W, 3)`` for colour, ``(H, W)`` for grey. ``alpha``: uint8 ``(H, W)``,
    255 opaque, or None (opaque). ``grey``: the pixels are greyscale (``pixels.ndim == 2``); the
    source was 1, L, LA, I;16, I or F, a palette of greys, or a lossless WebP with equal channels.
    ``format``: the Pillow format of the source, None when it did not come from a file.
    ``exif``: the EXIF block with Orientation set to 1 (the pixels are upright) and layout tags
    removed, or None. ``icc_profile``: the ICC profile's bytes, or None (sRGB assumed).
    ``info``: ``{"dpi": (x, y)}`` and, from PNG, ``{"text": {key: value}}``, when present.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    grey: bool = False
    format: str | None = None
    exif: bytes | None = None
    icc_profile: bytes | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pixels = self.pixels
        if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
            raise ValueError(f"pixels must be uint8 (H, W) or (H, W, 3), got {pixels.dtype} {pixels.shape}")
        if self.grey != (pixels.ndim == 2):
            raise ValueError(f"grey={self.grey} but pixels have shape {pixels.shape}")
        if self.alpha is not None and (self.alpha.dtype != np.uint8 or self.alpha.shape != pixels.shape[:2]):
            raise ValueError(f"alpha must be uint8 {pixels.shape[:2]}, got {self.alpha.dtype} {self.alpha.shape}")

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``, as Pillow says it."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])

    def with_pixels(self, pixels: np.ndarray) -> Photo:
        """The same photo with new pixels (a model's output), metadata kept.

        ``grey`` follows the new pixels (a colourised grey photo becomes colour), and the alpha
        channel is resized to the new size with :func:`resize_alpha` (an upscaled photo).
        """
        size = (int(pixels.shape[1]), int(pixels.shape[0]))
        return Photo(pixels=pixels, alpha=resize_alpha(self.alpha, size), grey=pixels.ndim == 2, format=self.format,
                     exif=self.exif, icc_profile=self.icc_profile, info=dict(self.info))

    def to_pil(self) -> Image.Image:
        """A Pillow image in mode L, LA, RGB or RGBA, with ``icc_profile``, ``exif`` and ``dpi`` in its info."""
        img = Image.fromarray(self.pixels)
        if self.alpha is not None:
            img.putalpha(Image.fromarray(self.alpha))
        if self.icc_profile:
            img.info["icc_profile"] = self.icc_profile
        if self.exif:
            img.info["exif"] = self.exif
        if "dpi" in self.info:
            img.info["dpi"] = self.info["dpi"]
        return img


def read_photo(path: str | Path, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> Photo:
    """Open, check and fully decode one user's photo.

    Checks, in order: a non-empty regular file of at most ``max_bytes``; a header one of the
    allowed parsers reads (PNG, JPEG, BMP, GIF, TIFF, WEBP, PPM); a declared ``width * height``
    of at most ``max_pixels`` (Pillow's decompression-bomb warning refuses too); one frame only;
    pixels that decode completely. A camera JPEG whose extra frames are MPF previews (format
    "MPO") is read as its first, full-size frame.

    The pixels come back upright (EXIF orientation applied to the colour and the alpha), in
    8 bits: 16-bit grey is scaled by 1/257, mode I likewise (clipped to 0..65535), mode F from
    0..1 (or clipped to 0..255 if it goes beyond 1); CMYK goes to RGB through its ICC profile
    when it has one (the photo then carries an sRGB profile), naively otherwise (no profile).

    Raises:
        BadImageError: "empty file", "file too large: ...", "not an image (...)", "format ICO
            not allowed; accepted: ...", "too large: W x H > N pixels", "animated image (N
            frames) not supported", "truncated", "corrupt (...)", "unsupported colour mode X".
    """
    path = Path(path)
    img = _open_checked(path, max_pixels, max_bytes)
    if img.mode not in _READ_MODES:
        raise BadImageError(path, f"unsupported colour mode {img.mode}")
    return photo_from_pil(img)


def photo_from_pil(img: Image.Image) -> Photo:
    """A Pillow image -> :class:`Photo`: upright, 8 bits, alpha split off, metadata kept.

    The same conversion :func:`read_photo` applies after its checks; for images a Python user
    already holds. ``img`` is not modified.
    """
    fmt = img.format
    exif = _exif_bytes(img)
    icc = img.info.get("icc_profile") or None
    info = _useful_info(img)
    try:
        # Phone photos store their rotation as an EXIF tag; without this they load sideways.
        # Transposing the whole image turns the alpha with the colour.
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001  (bad EXIF is not worth losing the pixels over)
        pass
    pixels, alpha, icc = _split_channels(img, icc)
    grey = pixels.ndim == 2
    if fmt == "WEBP" and not grey and _equal_channels(pixels):
        # WebP has no grey mode: a grey photo written as WebP comes back as RGB with equal
        # channels (exactly equal only when lossless).
        pixels, grey = np.ascontiguousarray(pixels[..., 0]), True
    return Photo(pixels=pixels, alpha=alpha, grey=grey, format=fmt, exif=exif, icc_profile=icc, info=info)


def resize_alpha(alpha: np.ndarray | None, size: tuple[int, int]) -> np.ndarray | None:
    """An alpha channel uint8 ``(H, W)`` -> uint8 ``(size[1], size[0])``, Lanczos-resized.

    ``size`` is ``(width, height)``, as Pillow says it. For a model that changes the image size
    (x2, x4 upscaling), so the transparency follows the pixels. None stays None.
    """
    if alpha is None:
        return None
    if alpha.shape == (size[1], size[0]):
        return alpha
    return np.asarray(Image.fromarray(alpha).resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)


def output_format(path: str | Path, size: tuple[int, int] | None = None) -> str:
    """The Pillow format :func:`write_photo` will use for ``path``, chosen by its extension.

    Call it before any work so a bad ``--out`` fails at once. With ``size`` (``(width,
    height)`` of the result) it also checks the format can hold an image that large (WebP:
    16383 per side, JPEG: 65500).

    Raises:
        GanforgeError: unknown extension (the message lists the accepted ones), or too large.
    """
    path = Path(path)
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        found = f"extension '{path.suffix}'" if path.suffix else "no extension"
        raise GanforgeError(f"{path}: {found} is not an image format we write; accepted: {', '.join(OUTPUT_FORMATS)}")
    limit = _MAX_SIDE.get(fmt)
    if size is not None and limit is not None and max(size) > limit:
        raise GanforgeError(f"{path}: {size[0]} x {size[1]} is too large for {fmt} (at most {limit} pixels a side); "
                            f"use .png or .tif")
    return fmt


def write_photo(path: str | Path, photo: Photo | Image.Image, *, quality: int = 95, lossless: bool = False) -> None:
    """Write ``photo`` to ``path`` atomically, in the format its extension names.

    - JPEG: ``quality``, 4:4:4 chroma (no subsampling: colour edges stay sharp). JPEG cannot
      hold transparency, so an alpha channel is composited over white.
    - PNG: lossless, no ``optimize`` pass (slow, a few percent smaller); PNG text kept.
    - WebP: ``quality``, or lossless with ``lossless=True``; alpha kept, and the colour under
      fully transparent pixels too (``exact``). WebP has no grey mode (written as RGB) and
      Pillow writes no dpi to it.
    - TIFF: uncompressed (Pillow's compressed TIFFs go through libtiff, which cannot write the
      EXIF sub-directory); alpha kept.

    Grey photos are written as L (LA with alpha). EXIF, ICC profile and dpi are written where
    the format holds them; an ICC profile for another colour space than the pixels' (a grey
    profile on a colourised photo) is left out, since viewers would misread or reject it, and
    so is an EXIF block too long for JPEG's one segment. A PIL image is accepted and goes
    through :func:`photo_from_pil` first.

    Raises:
        GanforgeError: unknown extension, image too large for the format, or the file cannot
            be written (the previous file, if any, is left as it was).
    """
    path = Path(path)
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    if isinstance(photo, Image.Image):
        photo = photo_from_pil(photo)
    data = encode_photo(photo, output_format(path, photo.size), quality=quality, lossless=lossless)
    try:
        atomic_write_bytes(path, data)
    except OSError as err:
        raise GanforgeError(f"{path}: cannot write ({err.strerror or err})") from None


def encode_photo(photo: Photo, fmt: str, *, quality: int = 95, lossless: bool = False) -> bytes:
    """``photo`` as the bytes of a file in Pillow format ``fmt`` (see :func:`write_photo`)."""
    img = _output_image(photo, fmt)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **_save_options(photo, fmt, img.mode, quality, lossless))
    return buffer.getvalue()


# Reading ------------------------------------------------------------------------------------


def _open_checked(path: Path, max_pixels: int, max_bytes: int) -> Image.Image:
    """The checks of :func:`~ganforge.data.imageio.open_image`, plus "one frame": a loaded image."""
    return load_checked(path, max_pixels=max_pixels, max_bytes=max_bytes, single_frame=True)


def _split_channels(img: Image.Image, icc: bytes | None) -> tuple[np.ndarray, np.ndarray | None, bytes | None]:
    """A decoded image -> ``(pixels, alpha, icc)``: uint8 (H, W) or (H, W, 3), uint8 (H, W) or None."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        # Pillow's convert("L") would clip 16-bit values at 255 instead of scaling them.
        values = np.clip(np.asarray(img, dtype=np.float64), 0, 65535)
        return np.rint(values / 257.0).astype(np.uint8), None, icc
    if mode == "F":
        values = np.asarray(img, dtype=np.float64)
        scale = 255.0 if np.nanmax(values, initial=0.0) <= 1.0 else 1.0
        return np.rint(np.clip(np.nan_to_num(values) * scale, 0, 255)).astype(np.uint8), None, icc
    if mode == "CMYK":
        return np.asarray(_cmyk_to_rgb(img, icc), dtype=np.uint8), None, _srgb_profile() if _is_cmyk(icc) else None
    has_alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in img.info
    grey = mode in ("1", "L", "LA", "La") or (mode in ("P", "PA") and _grey_palette(img))
    rgba = np.asarray(img.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)
    pixels = rgba[..., 0] if grey else rgba[..., :3]
    alpha = rgba[..., 3] if has_alpha else None
    return np.ascontiguousarray(pixels), None if alpha is None else np.ascontiguousarray(alpha), icc


def _grey_palette(img: Image.Image) -> bool:
    """Whether every palette colour the image uses is a grey."""
    used = np.unique(np.asarray(img if img.mode == "P" else img.convert("P")))
    palette = np.asarray(img.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)
    used = used[used < len(palette)]
    colours = palette[used]
    return bool(len(colours)) and bool((colours == colours[:, :1]).all())


def _equal_channels(pixels: np.ndarray) -> bool:
    return bool((pixels[..., 0] == pixels[..., 1]).all() and (pixels[..., 1] == pixels[..., 2]).all())


def _is_cmyk(icc: bytes | None) -> bool:
    return bool(icc) and icc[16:20] == b"CMYK"


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    if _is_cmyk(icc):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return img.convert("RGB")


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _exif_bytes(img: Image.Image) -> bytes | None:
    """The EXIF block to write back: Orientation 1, layout tags and stale pixel sizes removed."""
    try:
        # A copy: getexif() hands out the image's own cached block, which exif_transpose reads.
        exif = Image.Exif()
        exif.load(img.getexif().tobytes())
        for tag in [tag for tag in exif if tag in _LAYOUT_TAGS]:
            del exif[tag]
        if ExifTags.Base.Orientation in exif:
            exif[ExifTags.Base.Orientation] = 1
        if ExifTags.IFD.Exif in exif:
            sub = exif.get_ifd(ExifTags.IFD.Exif)
            for tag in _EXIF_PIXEL_SIZE_TAGS:
                sub.pop(tag, None)
        return exif.tobytes() if len(exif) else None
    except Exception:  # noqa: BLE001  (unreadable EXIF is dropped, the photo is still good)
        return None


def _useful_info(img: Image.Image) -> dict[str, Any]:
    info: dict[str, Any] = {}
    dpi = img.info.get("dpi")
    try:
        x, y = (float(v) for v in dpi)
        if all(math.isfinite(v) and v > 0 for v in (x, y)):
            info["dpi"] = (x, y)
    except (TypeError, ValueError):
        pass
    text = getattr(img, "text", None) if img.format == "PNG" else None
    if text:
        kept, chars = {}, 0
        for key, value in text.items():
            if key.startswith(_DROPPED_TEXT_PREFIXES) or not isinstance(value, str):
                continue
            chars += len(key) + len(value)
            if chars > _MAX_TEXT_CHARS:
                break
            kept[str(key)] = str(value)
        if kept:
            info["text"] = kept
    return info


# Writing ------------------------------------------------------------------------------------


def _output_image(photo: Photo, fmt: str) -> Image.Image:
    pixels = photo.pixels
    if fmt == "WEBP" and photo.grey:
        # WebP has no grey mode; converting here (not inside Pillow) lets the ICC check see RGB.
        pixels = np.repeat(pixels[..., None], 3, axis=2)
    if photo.alpha is None:
        return Image.fromarray(pixels)
    if fmt == "JPEG":
        # Over white, like a page: out = a * pixel + (1 - a) * 255.
        a = photo.alpha.astype(np.float32) / 255.0
        if not photo.grey:
            a = a[..., None]
        flat = photo.pixels.astype(np.float32) * a + 255.0 * (1.0 - a)
        return Image.fromarray(np.rint(flat).astype(np.uint8))
    img = Image.fromarray(pixels)
    img.putalpha(Image.fromarray(photo.alpha))
    return img


def _save_options(photo: Photo, fmt: str, mode: str, quality: int, lossless: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if photo.icc_profile and _icc_fits(photo.icc_profile, mode):
        options["icc_profile"] = photo.icc_profile
    if photo.exif and not (fmt == "JPEG" and len(photo.exif) > _MAX_JPEG_EXIF):
        options["exif"] = photo.exif
    dpi = photo.info.get("dpi")
    if dpi is not None and fmt != "WEBP":
        options["dpi"] = tuple(dpi)
    if fmt == "JPEG":
        options.update(quality=quality, subsampling=0)
    elif fmt == "PNG":
        options["optimize"] = False
        if photo.info.get("text"):
            chunks = PngImagePlugin.PngInfo()
            for key, value in photo.info["text"].items():
                chunks.add_itxt(key, value)
            options["pnginfo"] = chunks
    elif fmt == "WEBP":
        options.update(quality=quality, lossless=lossless, exact=True)
    # TIFF is written uncompressed: Pillow compresses through libtiff, which cannot write the
    # EXIF sub-directory (capture date, exposure, GPS) and fails on it.
    return options


def _icc_fits(icc: bytes, mode: str) -> bool:
    """Whether an ICC profile's colour space (header bytes 16..20) matches the written mode."""
    space = icc[16:20]
    return space == (b"GRAY" if mode in ("L", "LA") else b"RGB ")
