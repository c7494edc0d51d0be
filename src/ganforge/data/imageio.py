"""Defensive image reading for files nobody vetted (user folders, scraped data).

:func:`open_image` accepts a file only when every check passes, in this order, so nothing
expensive happens to a file an earlier check refuses:

1. it is a non-empty regular file of at most ``max_bytes``;
2. its header parses as one of :data:`ALLOWED_FORMATS` (only those parsers see the bytes);
3. its declared width x height is at most ``max_pixels``; Pillow's own decompression-bomb
   warning counts as a refusal too (only inside this function, the global
   ``Image.MAX_IMAGE_PIXELS`` is left alone);
4. the pixels decode completely (``LOAD_TRUNCATED_IMAGES`` stays off, so a cut-off file
   fails here instead of coming back half grey).

Any refusal is a :class:`BadImageError` with a few-word reason, so a folder loader can skip
the file and carry on.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from ..errors import GanforgeError

# Pillow format names. "PPM" covers PBM/PGM/PPM; JPEG files from cameras may report "MPO"
# (the JPEG parser opens them), which is why the check is on the parser, not the result.
ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
MAX_PIXELS = 64_000_000
MAX_BYTES = 100 * 2**20

# Grey modes come back as "L", everything else as "RGB".
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


class BadImageError(GanforgeError):
    """An image file that cannot be used. ``reason`` is a few words; the message adds the path."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


def open_image(path: str | Path, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> Image.Image:
    """Open, check and fully decode one untrusted image file.

    Args:
        path: the file.
        max_pixels: largest accepted ``width * height``. Pillow's bomb warning threshold
            (``Image.MAX_IMAGE_PIXELS``, 89 M) refuses larger images whatever this says.
        max_bytes: largest accepted file size.

    Returns:
        A decoded image in mode ``"L"`` (grey sources) or ``"RGB"``, upright per its EXIF
        orientation, transparency composited over white. 16-bit grey is scaled to 8 bits
        (Pillow would clip it). It holds no open file.

    Raises:
        BadImageError: with a short reason ("empty file", "truncated", "not an image",
            "format ICO not allowed; accepted: ...", "too large: W x H > N pixels", ...).
    """
    return _normalise(load_checked(Path(path), max_pixels=max_pixels, max_bytes=max_bytes))


def load_checked(source: Path | bytes, *, label: str | Path | None = None, max_pixels: int = MAX_PIXELS,
                 max_bytes: int = MAX_BYTES, single_frame: bool = False) -> Image.Image:
    """The checks of :func:`open_image` on a file or on bytes in memory (a member of a bundle),
    then a full decode; the image as decoded (any mode, EXIF not applied), holding no open file.

    ``label`` names the source in errors (default: the path). ``single_frame``: refuse animated
    images (several frames), except camera MPO files, whose later frames are previews.
    """
    label = label if label is not None else source if isinstance(source, Path) else "<bytes>"
    if isinstance(source, Path):
        _check_file(source, max_bytes)
        opened = source
    else:
        if not source:
            raise BadImageError(label, "empty file")
        if len(source) > max_bytes:
            raise BadImageError(label, f"file too large: {len(source) / 2**20:.1f} MiB > {max_bytes / 2**20:.1f} MiB")
        opened = io.BytesIO(source)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(opened, formats=ALLOWED_FORMATS) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise BadImageError(label, f"too large: {width} x {height} > {max_pixels} pixels")
                if single_frame and img.format != "MPO" and getattr(img, "is_animated", False):
                    raise BadImageError(label, f"animated image ({img.n_frames} frames) not supported")
                img.load()
                return img
        except BadImageError:
            raise
        except UnidentifiedImageError:
            reason = (_unidentified_reason(source) if isinstance(source, Path)
                      else f"not an image (accepted formats: {', '.join(ALLOWED_FORMATS)})")
            raise BadImageError(label, reason) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise BadImageError(label, f"too large: {str(err).split(',')[0]}") from None
        except Exception as err:  # noqa: BLE001
            # Decoders signal damaged data with OSError, SyntaxError, ValueError, EOFError,
            # struct.error, ... depending on the format; all of them mean "unusable file",
            # and a folder loader must be able to skip it and go on.
            raise BadImageError(label, _decode_failure(err)) from None


def _check_file(path: Path, max_bytes: int) -> None:
    try:
        stat = path.stat()
    except OSError as err:
        raise BadImageError(path, f"cannot read ({err.strerror or err})") from None
    if not path.is_file():
        raise BadImageError(path, "not a regular file")
    if stat.st_size == 0:
        raise BadImageError(path, "empty file")
    if stat.st_size > max_bytes:
        raise BadImageError(path, f"file too large: {stat.st_size / 2**20:.1f} MiB > {max_bytes / 2**20:.1f} MiB")


def _unidentified_reason(path: Path) -> str:
    """Name the format of a file the allowed parsers refused, if any Pillow parser knows it.

    This second look only reads the header to make the message useful; nothing is decoded.
    """
    try:
        with Image.open(path) as img:
            found = img.format
    except Exception:  # noqa: BLE001  (any failure just means "not an image we can name")
        found = None
    if found is None:
        return f"not an image (accepted formats: {', '.join(ALLOWED_FORMATS)})"
    return f"format {found} not allowed; accepted: {', '.join(ALLOWED_FORMATS)}"


def _decode_failure(err: Exception) -> str:
    message = str(err).splitlines()[0] if str(err) else type(err).__name__
    if isinstance(err, EOFError) or "truncated" in message.lower():
        return "truncated"
    return f"corrupt ({message})"


def _normalise(img: Image.Image) -> Image.Image:
    """A decoded image -> a new ``"L"`` or ``"RGB"`` image, detached from the file."""
    try:
        # Phone photos store their rotation as an EXIF tag; without this they load sideways.
        if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
            img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001  (bad EXIF is not worth losing the pixels over)
        pass
    target = "L" if img.mode in _GREY_MODES else "RGB"
    if img.mode in _SIXTEEN_BIT_MODES:
        scaled = np.rint(np.asarray(img, dtype=np.float32) / 257.0).astype(np.uint8)
        return Image.fromarray(scaled)  # 2D uint8 -> "L"
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert(target)
    return img.convert(target)


def to_array(img: Image.Image, channels: int, resolution: int) -> np.ndarray:
    """An image -> uint8 ``(channels, resolution, resolution)``.

    The image is converted to ``"L"`` (``channels=1``, ITU-R 601 luma) or ``"RGB"``
    (``channels=3``, grey repeated), its largest centred square is cropped (so nothing is
    stretched; the borders of the longer side are lost), and that square is resized with
    Lanczos filtering, which keeps detail when shrinking and does not alias.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    img = img.convert("L" if channels == 1 else "RGB")
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    # Crop first: resize(box=...) would let the filter reach into the cropped-away borders.
    img = img.crop((left, top, left + side, top + side)).resize((resolution, resolution), Image.Resampling.LANCZOS)
    array = np.asarray(img, dtype=np.uint8)
    array = array[None] if channels == 1 else array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)
