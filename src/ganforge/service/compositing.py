"""Compositing files: what ``ganforge composite`` and the Python API call (``compose/`` does the work)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..compose import CompositeOptions
from ..compose import composite as compose
from ..data.photoio import output_format, read_photo, write_photo
from ..errors import GanforgeError
from ..pipelines.image import as_photo, option_error
from .progress import Progress, report


@dataclass
class CompositeResult:
    out: Path
    size: tuple[int, int]  # (width, height): the background's


def composite_options(**values: Any) -> CompositeOptions:
    """Validated options; an ``OptionError`` naming the option (and listing them) otherwise."""
    try:
        return CompositeOptions.model_validate(values)
    except ValidationError as err:
        raise option_error(err, CompositeOptions) from None


def composite(subject: Path, background: Path, *, out: Path, progress: Progress = None,
              **options: Any) -> CompositeResult:
    """SUBJECT placed on BACKGROUND, written to ``out`` (its extension picks the format: JPEG, PNG,
    WebP, TIFF). Options are :class:`~ganforge.compose.CompositeOptions`' fields, checked before any
    file is read; both files are opened with the photo tools' checks (``data/photoio.read_photo``:
    size and pixel limits, format allow-list, bombs refused). Nothing is written unless it all
    worked, and then atomically. Progress: stage "composite", unit "step" (the Poisson solver's
    iterations, then 1 of 1)."""
    opts = composite_options(**options)
    out = Path(out)
    output_format(out)
    fg = read_photo(subject)
    bg = read_photo(background)
    output_format(out, bg.size)
    result = compose(fg, bg, opts, progress=lambda done, total: report(progress, "composite", done, total, "step"),
                     label=str(subject))
    if out.parent != Path(""):
        out.parent.mkdir(parents=True, exist_ok=True)
    write_photo(out, result)
    return CompositeResult(out, result.size)


def composite_images(subject: Any, background: Any, **options: Any):
    """The Python API: images in memory (PIL images, uint8 arrays, Photos) or file paths -> a PIL image."""
    def photo(image: Any):
        if isinstance(image, (str, Path)):
            return read_photo(image)
        return as_photo(image)

    opts = composite_options(**options)
    if subject is None or background is None:
        raise GanforgeError("composite needs a subject and a background")
    return compose(photo(subject), photo(background), opts).to_pil()
