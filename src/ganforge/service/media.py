"""Kinds of uploads a tool's inputs take, each with the checks an untrusted file passes first.

``MEDIA`` maps a kind (``image``, ``table``) to a :class:`MediaKind`: the media types it accepts
and :meth:`MediaKind.check`, which reads bytes defensively (size, format allow-list, a full
decode, pixel or row and column limits) and returns what to store, or raises :class:`BadUpload`
with the reason and whether it was too large (413) or not acceptable (415). A tool declares its
inputs by kind (``service.tools.InputSpec``); the upload route picks the kind from the file's
declared type.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..data.imageio import ALLOWED_FORMATS, BadImageError, load_checked
from ..data.tables import MAX_COLUMNS, MAX_ROWS
from ..errors import GanforgeError
from ..registry import Registry

IMAGE_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "BMP": "image/bmp", "GIF": "image/gif",
                     "TIFF": "image/tiff", "WEBP": "image/webp", "PPM": "image/x-portable-pixmap", "MPO": "image/jpeg"}


@dataclass(frozen=True)
class Limits:
    """What one uploaded file may be: bytes, and pixels for images or rows and columns for tables."""

    max_bytes: int
    max_pixels: int
    max_rows: int = MAX_ROWS
    max_columns: int = MAX_COLUMNS


@dataclass(frozen=True)
class Checked:
    """An accepted upload: its media type, format name, size (0 x 0 for tables) and facts."""

    media_type: str
    format: str
    width: int = 0
    height: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


class BadUpload(GanforgeError):
    """A refused upload: ``reason`` for the client; ``too_large`` picks 413 over 415."""

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.too_large = reason, too_large


class MediaKind:
    """A kind of upload. ``name``: the key tools declare; ``title``: for messages;
    ``media_types``: the types it stores."""

    name: ClassVar[str]
    title: ClassVar[str]
    media_types: ClassVar[tuple[str, ...]]

    def check(self, data: bytes, *, label: str, limits: Limits) -> Checked:
        raise NotImplementedError


MEDIA: Registry[MediaKind] = Registry("media kind")


def register_media(cls: type[MediaKind]) -> type[MediaKind]:
    MEDIA.register(cls.name, cls())
    return cls


@register_media
class ImageMedia(MediaKind):
    """Still images of an allowed format that decode fully within the pixel limit (no bombs, no animations)."""

    name = "image"
    title = "an image"
    media_types = tuple(sorted(set(IMAGE_MEDIA_TYPES.values())))

    def check(self, data: bytes, *, label: str, limits: Limits) -> Checked:
        try:
            img = load_checked(data, label=label, max_pixels=limits.max_pixels, max_bytes=limits.max_bytes,
                               single_frame=True)
        except BadImageError as err:
            hint = "" if "accepted" in err.reason else (f" (accepted: {', '.join(ALLOWED_FORMATS)}, at most "
                                                       f"{limits.max_pixels / 1e6:.0f} megapixels)")
            raise BadUpload(f"{err.reason}{hint}", too_large="too large" in err.reason) from None
        try:
            fmt = img.format or "PNG"
            return Checked(IMAGE_MEDIA_TYPES.get(fmt, "application/octet-stream"), fmt, *img.size)
        finally:
            img.close()


@register_media
class TableMedia(MediaKind):
    """CSV tables: UTF-8 (a byte-order mark allowed), a header of named, distinct columns, every
    row as wide as the header, within the row and column limits; parsed in full before storing."""

    name = "table"
    title = "a CSV table"
    media_types = ("text/csv",)

    def check(self, data: bytes, *, label: str, limits: Limits) -> Checked:
        if len(data) > limits.max_bytes:
            raise BadUpload(f"larger than {limits.max_bytes / 2**20:.0f} MiB", too_large=True)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise BadUpload(f"not UTF-8 text (byte {err.start}); save the table as UTF-8 CSV") from None
        if "\x00" in text:
            raise BadUpload("not a text table (it holds NUL bytes); accepted: UTF-8 CSV")
        try:
            rows = csv.reader(io.StringIO(text, newline=""), strict=True)
            header = next(rows, None)
            if not header or not any(h.strip() for h in header):
                raise BadUpload("an empty table: the first line must name the columns")
            if len(header) > limits.max_columns:
                raise BadUpload(f"{len(header)} columns; at most {limits.max_columns}", too_large=True)
            names = [h.strip() for h in header]
            if any(not n for n in names) or len(set(names)) != len(names):
                raise BadUpload("every column needs a name of its own in the header line")
            count = 0
            for count, row in enumerate(rows, start=1):
                if count > limits.max_rows:
                    raise BadUpload(f"more than {limits.max_rows} rows", too_large=True)
                if len(row) != len(header):
                    raise BadUpload(f"row {count} has {len(row)} fields; the header has {len(header)}")
        except csv.Error as err:
            raise BadUpload(f"not a valid CSV table: {err}") from None
        return Checked("text/csv", "CSV", meta={"rows": count, "columns": names})
