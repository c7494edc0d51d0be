"""``portraits``: painted bust portraits from two games (not photographs: no photographs of real
people install offline).

- ``naev-data`` (GPL-3+: the package's ``copyright`` lists no other licence for
  ``dat/gfx/portraits``): ``dat/gfx/portraits/<faction>/*.png``, 200 x 150; the faction is the
  folder, the gender is in the file name (``dv_civilian_f3``, ``female5``, ``empire_mil_m2``;
  ``oldwoman``, ``youngbusinessman``). Portraits in ``unique/`` folders keep their faction.
- ``wesnoth-1.16-data`` (GPL-2+): ``core/images/portraits/<race>/*.png``, about 400 x 400 on
  transparency; the race is the folder, the gender ``+female`` in the name or the gender of the
  unit whose ``profile=`` it is (:func:`~.wesnoth.read_profiles`).

Traits: ``source`` (``naev``, ``wesnoth``), ``gender`` (``female``, ``male``, ``unknown`` where
neither the name nor a unit says it; an unknown gender is marked not visible) and ``race`` (a
Wesnoth race folder or a Naev faction). Images are composited on white, padded to a square and
resized to 64 px. Pictures in the portraits folders' roots (``news.png``, ``none.png``) are not
character portraits and are left out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Dataset, register_dataset
from .creation import Sample, Skips, assemble, cached, fingerprint, fit, open_rgba, progress, require, square
from .imageio import BadImageError
from .wesnoth import PACKAGE as WESNOTH_PACKAGE, WESNOTH_CORE, read_profiles

if TYPE_CHECKING:
    from ..config import DataConfig

READER_VERSION = 1
SIDE = 64
BACKGROUND = (255, 255, 255)
NAEV_PORTRAITS = Path("/usr/share/naev/dat/gfx/portraits")  # tests point these at fixtures
NAEV_PACKAGE = "naev-data"
TRAITS = ("source", "gender", "race")
GENDERS = ("female", "male", "unknown")
EXTENSIONS = (".png", ".jpg", ".webp")

_FEMALE = re.compile(r"(^|_)f\d+$|female|woman|sister|mother|girl")
_MALE = re.compile(r"(^|_)m\d+$|male|man\b|man$|father|boy|brother")


def naev_gender(stem: str) -> str:
    """``dv_civilian_f3`` -> female, ``male12`` -> male, ``oldwoman`` -> female, ``pirate4`` -> unknown."""
    stem = stem.lower()
    if _FEMALE.search(stem):
        return "female"
    return "male" if _MALE.search(stem) else "unknown"


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)


def read_portraits(naev: Path, wesnoth_core: Path) -> Dataset:
    """Every character portrait of both games (no cache; see the module docstring)."""
    profiles = read_profiles(wesnoth_core)
    wesnoth = wesnoth_core / "images" / "portraits"
    sources = [("naev", naev, p) for p in _files(naev)] + [("wesnoth", wesnoth, p) for p in _files(wesnoth)]
    samples, skips = [], Skips()
    for source, root, path in progress(sources, "reading portraits", "portrait"):
        rel = path.relative_to(root)
        name = f"{source}/{rel.as_posix()}"
        if len(rel.parts) < 2:
            skips.add(name, "not in a faction or race folder")
            continue
        if source == "naev":
            gender = naev_gender(path.stem)
        else:
            stem = f"portraits/{rel.with_suffix('').as_posix()}"
            gender = "female" if "+female" in path.stem else profiles.get(stem, "unknown")
        try:
            image = square(open_rgba(path), SIDE, BACKGROUND)
        except BadImageError as err:
            skips.add(name, err.reason)
            continue
        samples.append(Sample(image=image, values={"source": source, "gender": gender, "race": rel.parts[0]},
                              hidden=frozenset({"gender"}) if gender == "unknown" else frozenset()))
    return assemble("portraits", samples, TRAITS, orders={"source": ("naev", "wesnoth"), "gender": GENDERS},
                    skipped=skips.entries)


@register_dataset("portraits", about="painted bust portraits from naev-data and wesnoth-1.16-data: source, gender, race",
                  licence="GPL-3+ (Naev portraits), GPL-2+ (Wesnoth portraits)")
def build_portraits(cfg: "DataConfig") -> Dataset:
    naev = require("portraits", NAEV_PACKAGE, NAEV_PORTRAITS)
    core = require("portraits", WESNOTH_PACKAGE, WESNOTH_CORE)
    wesnoth = core / "images" / "portraits"
    files = [*_files(naev)]
    key = {"reader": READER_VERSION, "naev": fingerprint(naev, files),
           "wesnoth": fingerprint(core, [*_files(wesnoth), *(core / "units").glob("*/*.cfg")])}
    return fit(cached("portraits", key, lambda: read_portraits(naev, core)), cfg)
