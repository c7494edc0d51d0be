"""Photographs for the photo-enhancement models (super-resolution, denoising, restoration, colorization).

Two registered data sets, both made of seeded random square crops (``data.crops_per_image``
crops of side ``data.resolution`` per photo, random horizontal flips, uint8 ``(N, C, R, R)``,
no labels):

* ``photos``: the training photographs that three Debian packages install
  (:func:`training_photos`); a fixed ~5 % of the photos (chosen by a hash of their names) form
  the ``test`` split and never appear in ``train``.
* ``photo-folder``: every image under ``data.path``, recursively (the ``folder`` data set's file
  rules: hidden names ignored, images recognised by extension, bad files skipped with a warning).

Where the photos come from (all installed by ``apt-get install``; ``make photo-data`` does it):

* ``endless-sky-data``: ``/usr/share/games/endless-sky/images/land/*.jpg``, the landing-screen
  photographs of the game (landscapes, cities, NASA and ISS interiors; CC-BY-SA and
  public-domain photographs, see the package's ``copyright`` file). Dropped: ``nasa8``,
  ``nasa9`` (processed false-colour Jupiter imagery), ``earthrise`` (mostly flat black space)
  and ``space6`` (an abstract light tunnel).
* ``gcompris-qt-data``: WebP photographs inside the Qt resource bundles in
  ``/usr/share/gcompris-qt/rcc`` (read with :mod:`.rcc`), from the bundles in
  :data:`GCOMPRIS_PHOTO_BUNDLES` (animals, monuments, objects, underwater scenes; mostly
  Wikimedia Commons photographs under CC licences, see the package's ``copyright`` file); the
  other bundles hold drawings, paintings and renders. Members shorter than
  :data:`MIN_PHOTO_SIDE` on their short side are left out.
* ``opencv-doc``: the colour photographs among OpenCV's sample images
  (:data:`OPENCV_PHOTOS`; BSD-licensed samples, some classic test photographs of unclear
  origin). Test patterns, charts, text, logos, renders, grey calibration shots and the second
  view of each stereo or tampered pair are left out.

:func:`evaluation_photos` lists held-out photographs from two more packages (``mate-backgrounds``,
``plasma-workspace-wallpapers``; GPL/CC wallpapers) for evaluation only: nothing here trains on them.

Photos whose short side is below ``data.resolution`` are upscaled with Lanczos filtering, just
enough for the short side to equal the crop side, rather than skipped: the small photos are
mostly the gcompris objects, and dropping them would drop whole kinds of content.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..errors import GanforgeError
from .base import Dataset, register_dataset
from .folder import _images_under, data_folder
from .imageio import ALLOWED_FORMATS, MAX_BYTES, MAX_PIXELS, BadImageError, _normalise, load_checked, open_image
from .rcc import RccError, iter_rcc

if TYPE_CHECKING:
    from ..config import DataConfig

# Where the Debian packages put their files; tests point these at temporary folders.
ENDLESS_SKY_LAND = Path("/usr/share/games/endless-sky/images/land")
GCOMPRIS_RCC = Path("/usr/share/gcompris-qt/rcc")
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
MATE_BACKGROUNDS = Path("/usr/share/backgrounds/mate")
PLASMA_WALLPAPERS = Path("/usr/share/wallpapers")

# Endless Sky landing images that are not ordinary camera photographs (the rest all are).
ENDLESS_SKY_EXCLUDED = frozenset({"nasa8.jpg", "nasa9.jpg", "earthrise.jpg", "space6.jpg"})

# gcompris-qt-data bundles whose large images are photographs (looked at one by one). Left
# out: lang (cartoon drawings), babyshapes, details and paintings (paintings, cut-outs),
# solar_system and gravity (renders), chronos, leftright, louis-braille (drawings, small).
GCOMPRIS_PHOTO_BUNDLES = (
    "categorization",  # tools, fish, windmills, solar panels, monuments, household objects
    "clickgame",  # underwater scenes
    "erase",  # wildlife
    "explore_farm_animals",
    "explore_monuments",
    "explore_world_animals",
    "explore_world_music",  # musicians and instruments
)
GCOMPRIS_PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
MIN_PHOTO_SIDE = 200  # gcompris members below this (icons, thumbnails) are left out

# OpenCV's sample photographs: colour camera photos only, one view of each stereo pair
# (aloeR, leuvenB, rubberwhale2, right, aero3, graf3 are the other views; ela_modified is a
# tampered copy of ela_original), no renders (Blender_Suzanne*, blox), drawings (HappyFish,
# cards), paintings (starry_night), text (sudoku, text_*, notes), charts or patterns.
OPENCV_PHOTOS = (
    "aero1.jpg", "aloeL.jpg", "apple.jpg", "baboon.jpg", "board.jpg", "building.jpg", "butterfly.jpg",
    "chicky_512.png", "ela_original.jpg", "fruits.jpg", "graf1.png", "home.jpg", "left.jpg", "leuvenA.jpg",
    "messi5.jpg", "orange.jpg", "rubberwhale1.png", "smarties.png", "squirrel_cls.jpg", "stuff.jpg",
)  # fmt: skip

# Evaluation photographs (looked at one by one): the photographs among the wallpapers, none of
# the abstract art, renders or drawings (MATE's abstract/ and desktop/ folders; Plasma's Altai,
# Autumn, Canopee, Cascade, Cluster, DarkestHour, Elarun, Flow, FlyingKonqui, Honeywave,
# IceCold, Kay, Kokkini, MilkyWay, Opal, PastelHills, Patak, SafeLanding, Shell, Volna).
MATE_PHOTOS = (
    "nature/Aqua.jpg", "nature/Blinds.jpg", "nature/Dune.jpg", "nature/FreshFlower.jpg", "nature/Garden.jpg",
    "nature/GreenMeadow.jpg", "nature/LadyBird.jpg", "nature/RainDrops.jpg", "nature/Storm.jpg",
    "nature/TwoWings.jpg", "nature/Wood.jpg", "nature/YellowFlower.jpg",
)  # fmt: skip
PLASMA_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut",
    "Path", "summer_1am",
)  # fmt: skip

TEST_FRACTION_PER_MILLE = 50  # ~5 % of the photos, by name hash, are the test split


@dataclass(frozen=True)
class PhotoSource:
    """One photograph: a file, or the bytes of a member of a Qt resource bundle.

    ``name``: a stable identifier ("endless-sky/canyon0.jpg", "gcompris-qt/erase/gorilla.webp"),
    which also seeds its crops and decides its split. ``package``: the Debian package it ships in.
    """

    name: str
    package: str
    path: Path | None = None
    data: bytes | None = None

    def open(self) -> Image.Image:
        """The decoded photo in mode ``"RGB"`` or ``"L"``, checked like :func:`~.imageio.open_image`.

        Raises:
            BadImageError: the file or bytes are not a usable image.
        """
        if self.path is not None:
            return open_image(self.path)
        return open_image_bytes(self.name, self.data or b"")


def open_image_bytes(name: str, data: bytes, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES) -> Image.Image:
    """:func:`~.imageio.open_image` for bytes in memory: the same format allow-list, size and pixel
    limits, full decode and normalisation. ``name`` only labels errors."""
    return _normalise(load_checked(data, label=name, max_pixels=max_pixels, max_bytes=max_bytes))


def _require(dataset: str, roots: dict[str, Path]) -> None:
    """Raise one line naming the Debian packages whose folders are missing."""
    missing = [package for package, root in roots.items() if not root.is_dir()]
    if missing:
        names = ", ".join(missing)
        raise GanforgeError(
            f"photo data set '{dataset}' needs the Debian packages {names}: "
            f"apt-get install {' '.join(missing)} (or `make photo-data`)"
        )


def _short_side(data: bytes) -> int | None:
    """The short side from the image header only, or None when the header does not parse."""
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as img:
            return min(img.size)
    except Exception:  # noqa: BLE001  (kept; the full decode will report what is wrong)
        return None


def training_photos() -> list[PhotoSource]:
    """The training photographs, sorted by name (see the module docstring for the rules).

    Raises:
        GanforgeError: one of endless-sky-data, gcompris-qt-data, opencv-doc is not installed.
    """
    _require("photos", {"endless-sky-data": ENDLESS_SKY_LAND, "gcompris-qt-data": GCOMPRIS_RCC, "opencv-doc": OPENCV_DATA})
    sources = [
        PhotoSource(f"endless-sky/{path.name}", "endless-sky-data", path=path)
        for path in sorted(ENDLESS_SKY_LAND.glob("*.jpg"))
        if path.name not in ENDLESS_SKY_EXCLUDED
    ]
    for bundle in GCOMPRIS_PHOTO_BUNDLES:
        path = GCOMPRIS_RCC / f"{bundle}.rcc"
        if not path.is_file():
            continue  # an older or newer gcompris without this activity
        try:
            for member, data in iter_rcc(path):
                if member.lower().endswith(GCOMPRIS_PHOTO_EXTENSIONS):
                    side = _short_side(data)
                    if side is None or side >= MIN_PHOTO_SIDE:
                        name = f"gcompris-qt/{bundle}/{member.rsplit('/', 1)[-1]}"
                        sources.append(PhotoSource(name, "gcompris-qt-data", data=data))
        except RccError as err:
            warnings.warn(f"skipping bundle {err}", stacklevel=2)
    sources += [
        PhotoSource(f"opencv/{name}", "opencv-doc", path=OPENCV_DATA / name)
        for name in OPENCV_PHOTOS
        if (OPENCV_DATA / name).is_file()
    ]
    return sorted(sources, key=lambda source: source.name)


def evaluation_photos() -> list[Path]:
    """The held-out evaluation photographs (never trained on): :data:`MATE_PHOTOS` and the largest
    image of each wallpaper in :data:`PLASMA_PHOTOS`. Names a package ships no longer are left out.

    Raises:
        GanforgeError: mate-backgrounds or plasma-workspace-wallpapers is not installed.
    """
    _require("photos-eval", {"mate-backgrounds": MATE_BACKGROUNDS, "plasma-workspace-wallpapers": PLASMA_WALLPAPERS})
    paths = [MATE_BACKGROUNDS / name for name in MATE_PHOTOS if (MATE_BACKGROUNDS / name).is_file()]
    for name in PLASMA_PHOTOS:
        images = [p for p in (PLASMA_WALLPAPERS / name / "contents" / "images").glob("*") if p.is_file()]
        if images:
            paths.append(max(images, key=_declared_pixels))
    return paths


def _declared_pixels(path: Path) -> int:
    """Plasma names each size "WIDTHxHEIGHT.ext"; fall back to the image header."""
    match = re.fullmatch(r"(\d+)x(\d+)", path.stem)
    if match:
        return int(match[1]) * int(match[2])
    try:
        with Image.open(path) as img:
            return img.size[0] * img.size[1]
    except Exception:  # noqa: BLE001
        return 0


def is_test_photo(name: str, per_mille: int = TEST_FRACTION_PER_MILLE) -> bool:
    """Whether a photo belongs to the held-out ``test`` split: a hash of its package and file
    stem, so the split is the same on every machine, adding a photo never moves another one,
    and the copies of one photo in two gcompris bundles (categorization/tajMahal.webp and
    explore_monuments/tajMahal.webp) land on the same side. ``per_mille``: the share held out
    (other image sets, such as the style data sets' art, hold out more)."""
    parts = name.split("/")
    key = f"{parts[0]}:{parts[-1].rsplit('.', 1)[0]}"
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 1000 < per_mille


def _photo_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(b"crops:" + name.encode("utf-8")).digest()[:8], "big")


def random_crops(image: Image.Image, *, name: str, count: int, side: int, channels: int,
                 max_short_side: int | None = None) -> np.ndarray:
    """``count`` seeded random ``side`` x ``side`` crops of ``image``, each flipped left-right
    with probability 1/2, as uint8 ``(count, channels, side, side)``.

    The crops depend only on ``name`` and the arguments (never on the order photos are loaded).
    A photo whose short side is below ``side`` is first upscaled with Lanczos filtering so
    that its short side equals ``side`` (the aspect ratio is kept); with ``max_short_side``, a
    larger one is first downscaled to that short side, so crops of images of different sizes
    show things at a similar scale.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    image = image.convert("L" if channels == 1 else "RGB")
    width, height = image.size
    if max_short_side is not None and min(width, height) > max(max_short_side, side):
        scale = max(max_short_side, side) / min(width, height)
        image = image.resize((max(side, round(width * scale)), max(side, round(height * scale))), Image.Resampling.LANCZOS)
        width, height = image.size
    if min(width, height) < side:
        scale = side / min(width, height)
        size = (max(side, round(width * scale)), max(side, round(height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
        width, height = image.size
    pixels = np.asarray(image, dtype=np.uint8)
    pixels = pixels[:, :, None] if channels == 1 else pixels
    rng = np.random.default_rng(_photo_seed(name))
    tops = rng.integers(0, height - side + 1, size=count)
    lefts = rng.integers(0, width - side + 1, size=count)
    flips = rng.random(count) < 0.5
    crops = np.empty((count, channels, side, side), dtype=np.uint8)
    for i, (top, left, flip) in enumerate(zip(tops, lefts, flips)):
        crop = pixels[top : top + side, left : left + side]
        crops[i] = (crop[:, ::-1] if flip else crop).transpose(2, 0, 1)
    return crops


def build_crops(dataset: str, sources: list[PhotoSource], cfg: "DataConfig", *, desc: str,
                max_short_side: int | None = None) -> Dataset:
    """Decode every source and cut :func:`random_crops` from it; a source that does not decode
    is skipped with a warning and recorded in ``Dataset.skipped``. ``max_short_side``: see :func:`random_crops`.

    Raises:
        GanforgeError: no source could be used.
    """
    count, side = cfg.crops_per_image, cfg.resolution
    # Filled in place (like the folder loader) so memory peaks at the data set, not twice it.
    data = np.empty((len(sources) * count, cfg.channels, side, side), dtype=np.uint8)
    used = 0
    skipped: list[tuple[str, str]] = []
    # Decoding large photos takes a while, so the bar shows whatever the count (on a terminal).
    for source in tqdm(sources, desc=desc, unit="photo", disable=not sys.stderr.isatty()):
        try:
            image = source.open()
        except BadImageError as err:
            skipped.append((source.name, err.reason))
            warnings.warn(f"skipping {source.name}: {err.reason}", stacklevel=3)
            continue
        data[used : used + count] = random_crops(image, name=source.name, count=count, side=side, channels=cfg.channels,
                                                 max_short_side=max_short_side)
        used += count
    if used == 0:
        detail = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise GanforgeError(f"data set '{dataset}' has no usable photos ({len(skipped)} skipped{detail})")
    return Dataset(name=dataset, data=torch.from_numpy(data[:used]), skipped=skipped)


@register_dataset("photos", splits=("train", "test"),
                  about="533 photographs from Debian's endless-sky-data, gcompris-qt-data and opencv-doc")
def build_photos(cfg: "DataConfig") -> Dataset:
    """Random crops of the training photographs of ``data.split`` (``test``: ~5 % of the photos, by name hash)."""
    want_test = cfg.split == "test"
    sources = [source for source in training_photos() if is_test_photo(source.name) == want_test]
    return build_crops("photos", sources, cfg, desc=f"decoding photos ({cfg.split})")


@register_dataset("photo-folder", about="a folder of the user's photos")
def build_photo_folder(cfg: "DataConfig") -> Dataset:
    """Random crops of every image under ``data.path`` (recursively; hidden names ignored)."""
    root = data_folder(cfg, "photo-folder", missing=" (a folder of photographs)", needs="a folder of photographs")
    files = _images_under(root)
    if not files:
        raise GanforgeError(f"folder {root} has no image files")
    sources = [PhotoSource(path.relative_to(root).as_posix(), "", path=path) for path in files]
    return build_crops("photo-folder", sources, cfg, desc=f"decoding {root.name}")
