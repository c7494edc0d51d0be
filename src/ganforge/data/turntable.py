"""``turntable``: FreedroidRPG's item renders, each item seen from every side (Debian
``freedroidrpg-data``, GPL-2+).

``graphics/items/<item>/portrait_NNNN.jpg`` (the item's own folder: category ``misc``) and
``graphics/items/<category>/<item>/portrait_NNNN.jpg`` (``weapons``, ``armours``, ``helmets``, ...)
hold an item turning on a black background, about 132 x 180, usually 32 views. Traits:

- ``category``: the category folder, or ``misc``;
- ``view``: the angle index 0..31 of the 32-step turn. Frame k of a 32-view item is view k - 1;
  an item rendered in 16 views covers the turn in steps of two (frame k is view 2(k - 1)).
  Frames beyond the turn (an item with 33) are left out.

``items`` names each image's item (``weapons/laser_rifle``), so a bench can gather one item's
views. ``NONE_AVAILABLE_YET`` (the game's placeholder) is left out. Images are padded to a square
with black and resized to 64 px.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Dataset, register_dataset
from .creation import Sample, Skips, assemble, cached, fingerprint, fit, open_rgba, progress, require, square
from .imageio import BadImageError

if TYPE_CHECKING:
    from ..config import DataConfig

READER_VERSION = 1
SIDE = 64
VIEWS = 32
BACKGROUND = (0, 0, 0)
PACKAGE = "freedroidrpg-data"
FREEDROID_ITEMS = Path("/usr/share/freedroidrpg/data/graphics/items")  # tests point this at a fixture
PLACEHOLDERS = frozenset({"NONE_AVAILABLE_YET"})
MISC = "misc"
TRAITS = ("category", "view")
_FRAME = re.compile(r"portrait_(\d+)\.jpg", re.I)


def _frames(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and _FRAME.fullmatch(p.name))


def item_of(root: Path, frame: Path) -> tuple[str, str] | None:
    """``(category, item id)`` of a frame, or None for a placeholder or an unexpected depth."""
    parts = frame.parent.relative_to(root).parts
    if not parts or parts[0] in PLACEHOLDERS or len(parts) > 2:
        return None
    return (MISC, parts[0]) if len(parts) == 1 else (parts[0], "/".join(parts))


def read_turntable(root: Path) -> Dataset:
    """Every view of every item (no cache; see the module docstring)."""
    by_item: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    skips = Skips()
    for frame in _frames(root):
        found = item_of(root, frame)
        if found is None:
            skips.add(frame.relative_to(root).as_posix(), "not an item's folder")
            continue
        by_item.setdefault(found, []).append((int(_FRAME.fullmatch(frame.name)[1]), frame))
    work = []
    for (category, item), frames in sorted(by_item.items()):
        step = 2 if len(frames) == VIEWS // 2 else 1
        for number, frame in sorted(frames):
            view = (number - 1) * step
            if not 0 <= view < VIEWS:
                skips.add(frame.relative_to(root).as_posix(), f"frame {number} is beyond the {VIEWS}-view turn")
                continue
            work.append((category, item, view, frame))
    samples = []
    for category, item, view, frame in progress(work, "reading turntables", "view"):
        try:
            image = square(open_rgba(frame), SIDE, BACKGROUND)
        except BadImageError as err:
            skips.add(frame.relative_to(root).as_posix(), err.reason)
            continue
        samples.append(Sample(image=image, values={"category": category, "view": str(view)}, item=item))
    return assemble("turntable", samples, TRAITS, orders={"view": tuple(str(v) for v in range(VIEWS))},
                    skipped=skips.entries)


@register_dataset("turntable", about="FreedroidRPG item renders from every side (freedroidrpg-data): category, view",
                  licence="GPL-2+ (FreedroidRPG)")
def build_turntable(cfg: "DataConfig") -> Dataset:
    root = require("turntable", PACKAGE, FREEDROID_ITEMS)
    key = {"reader": READER_VERSION, "files": fingerprint(root, _frames(root))}
    return fit(cached("turntable", key, lambda: read_turntable(root)), cfg)
