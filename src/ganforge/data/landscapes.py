"""``landscapes``: Endless Sky's landing photographs, wide (Debian ``endless-sky-data``).

``images/land/<scene><n>[-<photographer>].jpg``, 720 x 360: the scene type is the name's first
word (``mountain17-harro.jpg`` -> ``mountain``). Only names that are scene types count
(:data:`SCENES`); the rest are named after their photographer or source (``bwerner``, ``dmottl``,
``myrabella``, ``mfield``, ``loc``, ``nasa``) or are single shots (``earthrise``,
``industrial0``), and are left out.

One trait, ``scene``. The images keep their 2:1 aspect ratio: 128 x 64 at ``data.resolution=64``
(the resolution is the height). A photo of another shape is centre-cropped to 2:1 first.

Licence (``/usr/share/doc/endless-sky-data/copyright``): ``images/land/*`` are public-domain
photographs from morgueFile, except the ``-sfiera``, ``-harro``, ``-striker``, ``-iridium`` and
``-spfld`` ones (CC-BY-SA-4.0; the photographer is in the name).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from .base import Dataset, register_dataset
from .creation import Sample, Skips, assemble, cached, fingerprint, fit, progress, require
from .imageio import BadImageError, open_image

if TYPE_CHECKING:
    from ..config import DataConfig

READER_VERSION = 1
HEIGHT, WIDTH = 64, 128
ASPECT = WIDTH / HEIGHT
PACKAGE = "endless-sky-data"
ENDLESS_SKY_LAND = Path("/usr/share/games/endless-sky/images/land")  # tests point this at a fixture
SCENES = ("badlands", "beach", "canyon", "city", "desert", "dune", "fields", "fog", "forest", "hills", "lava",
          "mountain", "sea", "sky", "snow", "space", "station", "valley", "water")
LICENCE = ("public domain (morgueFile photographs); CC-BY-SA-4.0 for the -sfiera, -harro, -striker, -iridium "
           "and -spfld photographs (Endless Sky)")
_NAME = re.compile(r"([a-z]+)\d+(-[a-z]+)?\.jpe?g", re.I)


def scene_of(name: str) -> str | None:
    """``canyon10-harro.jpg`` -> ``canyon``; None when the name is not ``<scene><n>[-who].jpg``."""
    match = _NAME.fullmatch(name)
    return match[1].lower() if match and match[1].lower() in SCENES else None


def wide(img: Image.Image) -> np.ndarray:
    """Centre-crop to 2:1 and resize to 128 x 64 with Lanczos: uint8 ``(64, 128, 3)``."""
    img = img.convert("RGB")
    width, height = img.size
    if width / height > ASPECT:
        crop = round(height * ASPECT)
        box = ((width - crop) // 2, 0, (width - crop) // 2 + crop, height)
    else:
        crop = round(width / ASPECT)
        box = (0, (height - crop) // 2, width, (height - crop) // 2 + crop)
    img = img.crop(box).resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8).copy()


def _photos(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg"))


def read_landscapes(root: Path) -> Dataset:
    """Every scene photograph (no cache; see the module docstring)."""
    samples, skips = [], Skips()
    for path in progress(_photos(root), "reading landscapes", "photo"):
        scene = scene_of(path.name)
        if scene is None:
            skips.add(path.name, "no scene type in the name")
            continue
        try:
            image = wide(open_image(path))
        except BadImageError as err:
            skips.add(path.name, err.reason)
            continue
        samples.append(Sample(image=image, values={"scene": scene}))
    return assemble("landscapes", samples, ("scene",), skipped=skips.entries)


@register_dataset("landscapes", about="Endless Sky's landing photographs (endless-sky-data), 2:1, by scene type",
                  licence=LICENCE)
def build_landscapes(cfg: "DataConfig") -> Dataset:
    root = require("landscapes", PACKAGE, ENDLESS_SKY_LAND)
    key = {"reader": READER_VERSION, "files": fingerprint(root, _photos(root))}
    return fit(cached("landscapes", key, lambda: read_landscapes(root)), cfg, aspect=ASPECT)
