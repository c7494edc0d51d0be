"""Style data sets for unpaired translation: photographs (side A) and art of one style (side B).

Each registered data set (``batch="unpaired"``) returns an :class:`~ganforge.data.UnpairedDataset`
of seeded random crops (``data.crops_per_image`` per image, side ``data.resolution``, random
left-right flips; :func:`~.photos.random_crops`):

* side A: the training photographs of the ``photos`` data set (:func:`~.photos.training_photos`,
  split by the same name hash), never the evaluation photographs of
  :func:`~.photos.evaluation_photos`;
* side B: the style's art, of which a fixed :data:`ART_TEST_PER_MILLE` share (by a hash of its
  names) forms the ``test`` split, held out for measuring the style (``bench/style.py``).

Before cropping, images whose short side exceeds ``ArtStyle.scale`` crop sides are downscaled to
it, on both sides, so a crop shows a photo and a painting at a comparable scale whatever the
files' sizes (a 4,000 px photo cropped at 128 px would show only texture).

With ``data.limit``, only enough images are decoded for ``limit`` crops per side, taken in an
order fixed by a hash of their names (so a limit is a random subset that is the same on every
machine, not the first category in alphabetical order).

Where the art comes from (``make style-data`` installs the packages):

* ``style-painting``: Battle for Wesnoth's story art (``wesnoth-1.16-data`` and the campaign
  packages in :data:`WESNOTH_STORY`; GPL-2+ / CC-BY-SA artwork, see the packages' ``copyright``
  files): the digital paintings directly in each ``images/story/`` folder, about 1024x768 to
  1920x1080. Left out: ``Secrets_of_the_Ancients`` (its story images are screenshots of the
  game's map), title cards and logos (:data:`WESNOTH_EXCLUDED`), a lower-resolution copy of a
  Heir to the Throne painting in Delfador's Memoirs, and the ``characters/``, ``portraits/``
  and ``l10n/`` subfolders (cut-outs with transparency, translated title cards).
* ``unpaired-folder``: the user's own two sets, ``data.path`` with ``A/`` (e.g. photos) and ``B/``
  (e.g. paintings) subfolders, or per split ``train/A``, ``train/B``, ``test/A``, ``test/B``
  (CycleGAN's ``trainA`` layout with a slash); images are cut at the paintings' scale (4).
* ``style-cartoon``: public-domain clip art from ``openclipart-png`` (154 MB installed, 8,121
  PNGs), the drawing categories of :data:`CARTOON_CATEGORIES` (about 2,400 files); icons,
  shapes, signs, maps and patterns are left out. Transparency becomes white.
* ``style-woodblock``: the Japanese woodblock prints (ukiyo-e by Hokusai and Hiroshige,
  :data:`WOODBLOCK_PRINTS`) among GCompris's painting puzzles (``gcompris-qt-data``,
  ``rcc/paintings.rcc``; WebMuseum scans, GPL-3+ per the bundle's README): 148 jigsaw pieces of
  nine prints, about 100 to 260 px each. Each piece is cut to its largest fully opaque box
  (:func:`opaque_box`) so no crop shows a transparent tab. The held-out art is whole prints
  (:data:`WOODBLOCK_TEST_PRINTS`), not pieces of prints seen in training.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
from PIL import Image

from ..errors import GanforgeError
from .base import UnpairedDataset, register_dataset
from . import photos
from .folder import _images_under, data_folder
from .imageio import ALLOWED_FORMATS, MAX_PIXELS
from .photos import GCOMPRIS_RCC, PhotoSource, build_crops, is_test_photo
from .rcc import RccError, iter_rcc

if TYPE_CHECKING:
    from ..config import DataConfig

ART_TEST_PER_MILLE = 150  # ~15 % of each style's art is held out (photos: the photos split, ~5 %)

# Where the Debian packages put their files; tests point these at temporary folders.
WESNOTH_DATA = Path("/usr/share/games/wesnoth/1.16/data")
OPENCLIPART_PNG = Path("/usr/share/openclipart/png")

# Debian package -> its folder of story art below WESNOTH_DATA.
WESNOTH_STORY = {
    "wesnoth-1.16-data": "core/images/story",
    "wesnoth-1.16-did": "campaigns/Descent_Into_Darkness/images/story",
    "wesnoth-1.16-httt": "campaigns/Heir_To_The_Throne/images/story",
    "wesnoth-1.16-l": "campaigns/Liberty/images/story",
    "wesnoth-1.16-trow": "campaigns/The_Rise_Of_Wesnoth/images/story",
    "wesnoth-1.16-tsg": "campaigns/The_South_Guard/images/story",
    "wesnoth-1.16-ttb": "campaigns/Two_Brothers/images/story",
}
WESNOTH_EXCLUDED = frozenset({"trow-logo.png"})  # a title card, not a painting

# openclipart-png categories (top-level folders) of drawings; the others are icons (computer),
# geometric shapes and stars, signs and symbols, maps (geography), patterns (special), logos,
# buttons, and mixed sets (unsorted, office, education, ...).
CARTOON_CATEGORIES = ("animals", "buildings", "food", "people", "plants", "recreation", "tools", "transportation")

# The woodblock prints among paintings.rcc's puzzles (the file-name stem before "_<piece>"); the
# others are European oil paintings, frescoes and sculpture, a different style.
WOODBLOCK_PRINTS = ("EjiriSuruga", "GreatWave", "HiroshigeHorsePrawns", "HiroshigeInokashiraSnow", "HokusaiBridge",
                    "HokusaiOiranKamuro", "HokusaiPoppies", "HokusaiWomanHoldingFan", "KazusaSeaRoute")
# Whole prints held out for measuring the style (18 of 148 pieces): a hash split by piece would
# put pieces of one print on both sides, and a hash by print holds out four of nine.
WOODBLOCK_TEST_PRINTS = frozenset({"EjiriSuruga", "HokusaiOiranKamuro"})
WOODBLOCK_MIN_SIDE = 48  # pieces whose opaque box is smaller on a side are left out


@dataclass(frozen=True)
class ArtStyle:
    """One art style: where its images come from and the scale its crops are cut at.

    ``sources() -> [PhotoSource]`` (sorted by name; raises GanforgeError naming missing packages);
    ``scale``: images are downscaled to a short side of at most ``scale * data.resolution``."""

    name: str
    sources: Callable[[], list[PhotoSource]]
    scale: int
    held_out: Callable[[str], bool] = lambda name: is_test_photo(name, ART_TEST_PER_MILLE)


def painting_sources() -> list[PhotoSource]:
    """Wesnoth's story paintings (see the module docstring for what is left out)."""
    photos._require("style-painting", {package: WESNOTH_DATA / folder for package, folder in WESNOTH_STORY.items()})
    return sorted(
        (PhotoSource(f"{package}/{path.name}", package, path=path)
         for package, folder in WESNOTH_STORY.items()
         for path in _images_under(WESNOTH_DATA / folder)
         if path.parent == WESNOTH_DATA / folder and path.name not in WESNOTH_EXCLUDED),
        key=lambda source: source.name,
    )


def cartoon_sources() -> list[PhotoSource]:
    """openclipart-png's drawings in :data:`CARTOON_CATEGORIES`."""
    photos._require("style-cartoon", {"openclipart-png": OPENCLIPART_PNG})
    return sorted(
        (PhotoSource(f"openclipart/{path.relative_to(OPENCLIPART_PNG).as_posix()}", "openclipart-png", path=path)
         for category in CARTOON_CATEGORIES
         for path in _images_under(OPENCLIPART_PNG / category)),
        key=lambda source: source.name,
    )


def opaque_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(left, top, right, bottom)`` of a large box where ``alpha`` (H, W) is fully opaque, or None.

    Greedy: start from the bounding box of the opaque pixels and trim, one row or column at a
    time, the edge with the largest share of transparent pixels until none is left. Not the
    largest possible box, but close for the convex-ish pieces of a jigsaw (tabs and blanks)."""
    solid = alpha >= 255
    rows, cols = np.flatnonzero(solid.any(axis=1)), np.flatnonzero(solid.any(axis=0))
    if rows.size == 0:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    while top < bottom and left < right:
        box = solid[top:bottom, left:right]
        holes = {"top": 1 - box[0].mean(), "bottom": 1 - box[-1].mean(),
                 "left": 1 - box[:, 0].mean(), "right": 1 - box[:, -1].mean()}
        edge, worst = max(holes.items(), key=lambda item: item[1])
        if worst == 0:
            return left, top, right, bottom
        if edge == "top":
            top += 1
        elif edge == "bottom":
            bottom -= 1
        elif edge == "left":
            left += 1
        else:
            right -= 1
    return None


def woodblock_sources() -> list[PhotoSource]:
    """The opaque boxes of the woodblock prints' puzzle pieces, as PNG bytes (see the module docstring)."""
    photos._require("style-woodblock", {"gcompris-qt-data": GCOMPRIS_RCC})
    bundle = GCOMPRIS_RCC / "paintings.rcc"
    if not bundle.is_file():
        raise GanforgeError(f"data set 'style-woodblock' needs {bundle} (gcompris-qt-data); it is missing")
    sources = []
    try:
        members = list(iter_rcc(bundle))
    except RccError as err:
        raise GanforgeError(f"data set 'style-woodblock': {err}") from None
    for member, data in members:
        stem = member.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        work = stem.rsplit("_", 1)[0]
        if not member.endswith(".webp") or work not in WOODBLOCK_PRINTS:
            continue
        try:
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as piece:
                if piece.width * piece.height > MAX_PIXELS:
                    raise ValueError(f"{piece.width}x{piece.height} pixels is over the limit")
                piece = piece.convert("RGBA")
        except Exception as err:  # noqa: BLE001  (one bad member is skipped, not fatal)
            warnings.warn(f"skipping paintings.rcc/{stem}: {err}", stacklevel=2)
            continue
        box = opaque_box(np.asarray(piece)[:, :, 3])
        if box is None or min(box[2] - box[0], box[3] - box[1]) < WOODBLOCK_MIN_SIDE:
            continue
        out = io.BytesIO()
        piece.crop(box).convert("RGB").save(out, format="PNG")
        sources.append(PhotoSource(f"gcompris-woodblock/{work}/{stem}.png", "gcompris-qt-data", data=out.getvalue()))
    return sorted(sources, key=lambda source: source.name)


def _woodblock_held_out(name: str) -> bool:
    return name.split("/")[1] in WOODBLOCK_TEST_PRINTS


# Paintings are large (1024 to 1920 px): a short side of 4 crops keeps whole figures and brush
# strokes in view. Clip art is small and sparse: 2 crops, so a crop holds drawing, not margin.
STYLES = {
    "style-painting": ArtStyle("style-painting", painting_sources, scale=4),
    "style-cartoon": ArtStyle("style-cartoon", cartoon_sources, scale=2),
    # The pieces are 100 to 260 px: no downscaling of the art; photos at the paintings' scale.
    "style-woodblock": ArtStyle("style-woodblock", woodblock_sources, scale=4, held_out=_woodblock_held_out),
}


def _hash_order(sources: list[PhotoSource]) -> list[PhotoSource]:
    return sorted(sources, key=lambda s: hashlib.sha256(b"order:" + s.name.encode("utf-8")).digest())


def _subset(sources: list[PhotoSource], cfg: "DataConfig") -> list[PhotoSource]:
    """All sources, or with ``data.limit`` the first of a fixed hash order enough for ``limit`` crops."""
    if cfg.limit is None:
        return sources
    return sorted(_hash_order(sources)[: math.ceil(cfg.limit / cfg.crops_per_image)], key=lambda s: s.name)


def build_style(style: ArtStyle, cfg: "DataConfig") -> UnpairedDataset:
    """Crops of the training photographs (A) and of the style's art (B) of ``data.split``."""
    test = cfg.split == "test"
    side = {"a": [s for s in photos.training_photos() if is_test_photo(s.name) == test],
            "b": [s for s in style.sources() if style.held_out(s.name) == test]}
    max_short = style.scale * cfg.resolution
    built = {key: build_crops(style.name, _subset(sources, cfg), cfg, desc=f"{style.name} {key.upper()} ({cfg.split})",
                              max_short_side=max_short)
             for key, sources in side.items()}
    return UnpairedDataset(name=style.name, a=built["a"].data, b=built["b"].data,
                           skipped=built["a"].skipped + built["b"].skipped)


@register_dataset("style-painting", batch="unpaired", splits=("train", "test"),
                  about="photos (A) and Battle for Wesnoth's painted story art (B), from Debian packages")
def build_style_painting(cfg: "DataConfig") -> UnpairedDataset:
    return build_style(STYLES["style-painting"], cfg)


@register_dataset("style-cartoon", batch="unpaired", splits=("train", "test"),
                  about="photos (A) and public-domain clip art from openclipart-png (B)")
def build_style_cartoon(cfg: "DataConfig") -> UnpairedDataset:
    return build_style(STYLES["style-cartoon"], cfg)


@register_dataset("style-woodblock", batch="unpaired", splits=("train", "test"),
                  about="photos (A) and Hokusai's and Hiroshige's woodblock prints from gcompris-qt-data (B)")
def build_style_woodblock(cfg: "DataConfig") -> UnpairedDataset:
    return build_style(STYLES["style-woodblock"], cfg)


FOLDER_SCALE = 4  # unpaired-folder: short side of at most 4 crops, as for paintings


@register_dataset("unpaired-folder", batch="unpaired", splits=("train", "test"),
                  about="two folders of the user's images, DIR/A and DIR/B, not paired")
def build_unpaired_folder(cfg: "DataConfig") -> UnpairedDataset:
    """Random crops of every image under ``data.path``/A and /B (or ``data.path``/<split>/A and /B)."""
    layout = "A/ and B/ subfolders of images (or train/A, train/B, test/A, test/B)"
    root = data_folder(cfg, "unpaired-folder", missing=f" (a folder with {layout})", needs=layout)
    if (root / cfg.split / "A").is_dir():
        root = root / cfg.split
    built = {}
    for key in ("A", "B"):
        folder = root / key
        files = _images_under(folder) if folder.is_dir() else []
        if not files:
            what = "has no image files" if folder.is_dir() else "does not exist"
            raise GanforgeError(f"'{folder}' {what}; dataset=unpaired-folder needs {layout}")
        sources = [PhotoSource(f"{key}/{p.relative_to(folder).as_posix()}", "", path=p) for p in files]
        built[key] = build_crops("unpaired-folder", _subset(sources, cfg), cfg, desc=f"decoding {key}/ ({cfg.split})",
                                 max_short_side=FOLDER_SCALE * cfg.resolution)
    return UnpairedDataset(name="unpaired-folder", a=built["A"].data, b=built["B"].data,
                           skipped=built["A"].skipped + built["B"].skipped)
