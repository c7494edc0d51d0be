"""Compositing files: what ``ganforge composite`` calls (``compose/`` does the work)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..compose import composite as compose
from ..compose import composite_options
from ..data.photoio import output_format, read_photo, write_photo
from .progress import Progress, report


@dataclass
class CompositeResult:
    out: Path
    size: tuple[int, int]  # (width, height): the background's


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
