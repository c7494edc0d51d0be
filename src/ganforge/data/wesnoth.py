"""``wesnoth-sprites``: Battle for Wesnoth's unit sprites (Debian ``wesnoth-1.16-data``, GPL-2+).

Every frame under ``core/images/units/`` (mostly 72 x 72, on transparency) is assigned to the unit
type whose images it belongs to, read from ``core/units/*/*.cfg`` (:func:`read_units`): a frame
belongs to the unit whose declared image (``image=`` of the unit, of its ``[female]``/``[male]``
and of its ``[variation]``s) is the longest prefix of the frame's name in the same folder
(``spearman-idle2-3.png`` -> ``spearman.png``). Its traits:

- ``race``: the unit's ``race=`` (``human``, ``elf``, ``undead``, ...);
- ``gender``: ``female`` for ``+female`` frames and the images of ``[female]``, else the unit's
  first ``gender=`` (Wesnoth's default is male);
- ``pose``: from the rest of the frame's name (:func:`pose_of`): ``stand``, ``idle``, ``move``,
  ``attack``, ``defend``, ``die`` (directions such as ``-ne`` are not poses);
- ``team_color``: one of Wesnoth's player colours (``default=yes`` in ``core/team-colors.cfg``),
  drawn per frame from a hash of its name: the magenta range of the frame is recoloured the way
  the game does it (:func:`recolor_map`). A frame without magenta pixels shows no team colour
  (``Dataset.visible``).

Frames are composited on white and padded to a square before they are resized to 64 px, so a
wider frame is not stretched. ``items`` name the unit type of each frame. Frames no unit claims
are skipped and listed in ``Dataset.skipped``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
from PIL import Image

from ..errors import GanforgeError
from .base import Dataset, register_dataset
from .creation import Sample, Skips, assemble, cached, fingerprint, fit, open_rgba, progress, require, square
from .imageio import BadImageError

if TYPE_CHECKING:
    from ..config import DataConfig

READER_VERSION = 1
SIDE = 64
PACKAGE = "wesnoth-1.16-data"
WESNOTH_CORE = Path("/usr/share/games/wesnoth/1.16/data/core")  # tests point this at a fixture
BACKGROUND = (255, 255, 255)
TRAITS = ("race", "gender", "pose", "team_color")
POSES = ("stand", "idle", "move", "attack", "defend", "die")
LICENCE = "GPL-2+ (Battle for Wesnoth)"

# Words of a frame name after its unit's image, checked in this order (the first that matches wins).
_POSE_WORDS = (
    ("die", {"die", "death", "dying", "dead", "fall", "falling", "melt"}),
    ("defend", {"defend", "defense", "defence", "block", "hit"}),
    ("attack", {"attack", "melee", "ranged", "magic", "fire", "shoot", "throw", "cast", "breath", "bite", "strike",
                "sling", "bow", "sword", "spear", "axe", "mace", "staff", "hammer", "club", "dagger", "knife",
                "javelin", "lance", "crossbow", "whip", "claws", "fangs", "tail", "touch", "wail", "curse",
                "scepter", "trident", "net", "bolas", "slam", "flail", "halberd", "pike", "blade", "scythe",
                "lightbeam", "faerie", "entangle", "thorns", "ink", "tentacle", "fist", "kick", "sting", "gore",
                "horns", "ram", "crush", "hurl", "boulder", "chill", "shadow", "wave", "totem", "plague", "drain"}),
    ("idle", {"idle", "blink", "breathing", "bob", "taunt", "laugh", "victory", "recover", "crouch"}),
    ("move", {"moving", "move", "run", "walk", "fly", "flying", "swim", "jump", "leap", "lead", "leading", "takeoff",
              "soar", "float", "teleport"}),
    ("stand", {"stand", "standing"}),
)
_DIRECTIONS = {"n", "ne", "nw", "s", "se", "sw", "e", "w"}


# ------------------------------------------------------------------------------------ WML
@dataclass
class Tag:
    """One WML tag: its attributes and child tags, in file order."""

    name: str
    attrs: dict[str, str]
    children: list["Tag"]

    def find(self, name: str) -> list["Tag"]:
        return [c for c in self.children if c.name == name]


def parse_wml(text: str) -> Tag:
    """The tags and ``key=value`` attributes of a WML file, enough for unit types: comments,
    preprocessor lines and macro calls (``{...}``) are ignored, quoted strings may span lines,
    ``_ "text"`` is the text."""
    root = Tag("", {}, [])
    stack = [root]
    in_string = False
    for raw in text.splitlines():
        line = raw.strip()
        if in_string:
            in_string = line.count('"') % 2 == 0  # still open unless this line closes it
            continue
        if not line or line.startswith("#") or line.startswith("{"):
            continue
        if line.startswith("[/"):
            if len(stack) > 1:
                stack.pop()
            continue
        if line.startswith("[") and line.endswith("]"):
            tag = Tag(line[1:-1].lstrip("+"), {}, [])
            stack[-1].children.append(tag)
            stack.append(tag)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if value.count('"') % 2 == 1:
            in_string = True  # a multi-line string: keep its first line, skip the rest
        value = value.removeprefix("_").strip().strip('"')
        stack[-1].attrs[key.strip()] = value.split("#", 1)[0].strip() if '"' not in line else value
    return root


@dataclass(frozen=True)
class UnitImage:
    """One image a unit type declares: ``stem`` (``units/human-loyalists/spearman``, relative to
    ``core/images``), the unit's id, race and level, and the gender the image shows."""

    stem: str
    unit: str
    race: str
    gender: str
    level: int


def _image_stem(value: str) -> str | None:
    """``units/x/y.png~RC(...)`` -> ``units/x/y``; None for anything but a .png under units/."""
    match = re.match(r"(units/[^~:\[]+?)\.png", value.strip())
    return match[1] if match else None


_DEFINE = re.compile(r"^#define\s+(\w+)\s*$(.*?)^#enddef", re.M | re.S)
_MENTION = re.compile(r"units/[A-Za-z0-9_/+-]*[A-Za-z0-9_+-]{3}")  # a literal image path, up to a "." "[" or "{"


def _expand(text: str) -> str:
    """Substitute the file's argument-less one-line macros (``#define PATH_TEMP units/x/ #enddef``)."""
    for name, body in _DEFINE.findall(text):
        if "\n" not in body.strip():
            text = text.replace("{" + name + "}", body.strip())
    return text


def read_units(core: Path) -> tuple[list[UnitImage], list[UnitImage]]:
    """The images the unit types of ``core/units/*/*.cfg`` declare, and the image-name prefixes each
    cfg mentions anywhere (animation frames, macro arguments: ``units/drakes/thrasher-spear-se-``),
    which claim the frames no declared image does. See the module docstring."""
    declared_images, mentioned = [], []
    for cfg in sorted((core / "units").glob("*/*.cfg")):
        text = _expand(cfg.read_text(encoding="utf-8", errors="replace"))
        root = parse_wml(text)
        first = None
        for unit in root.find("unit_type"):
            a = unit.attrs
            if "id" not in a or "race" not in a:
                continue
            genders = [g.strip() for g in a.get("gender", "male").split(",") if g.strip()] or ["male"]
            level = int(a["level"]) if a.get("level", "").isdigit() else 0
            first = first or UnitImage("", a["id"], a["race"], genders[0], level)
            declared = [(a.get("image", ""), genders[0])]
            declared += [(c.attrs.get("image", ""), c.name) for c in unit.children if c.name in ("female", "male")]
            for variation in unit.find("variation"):
                declared.append((variation.attrs.get("image", ""), genders[0]))
                declared += [(c.attrs.get("image", ""), c.name) for c in variation.children if c.name in ("female", "male")]
            for value, gender in declared:
                stem = _image_stem(value)
                if stem:
                    declared_images.append(UnitImage(stem, a["id"], a["race"], gender, level))
        if first is not None:
            for prefix in sorted(set(_MENTION.findall(text))):
                mentioned.append(UnitImage(prefix, first.unit, first.race, first.gender, first.level))
    return declared_images, mentioned


def read_profiles(core: Path) -> dict[str, str]:
    """Portrait stem (``portraits/humans/spearman``) -> the gender of the unit whose ``profile=``
    (or whose ``[female]``/``[male]``'s) it is, from ``core/units/*/*.cfg``."""
    genders: dict[str, str] = {}
    for cfg in sorted((core / "units").glob("*/*.cfg")):
        root = parse_wml(_expand(cfg.read_text(encoding="utf-8", errors="replace")))
        for unit in root.find("unit_type"):
            default = (unit.attrs.get("gender", "male").split(",")[0].strip() or "male")
            declared = [(unit.attrs.get("profile", ""), default)]
            declared += [(c.attrs.get("profile", ""), c.name) for c in unit.children if c.name in ("female", "male")]
            for value, gender in declared:
                match = re.match(r"(portraits/[^~:\[]+?)\.(png|webp|jpg)", value.strip())
                if match:
                    genders.setdefault(match[1], gender)
    return genders


def assign(frame_stem: str, images: dict[str, list[UnitImage]],
           mentioned: list[UnitImage] = ()) -> tuple[UnitImage, str] | None:
    """The unit image a frame belongs to and the rest of the frame's name, or None: the longest
    declared stem that prefixes the frame's stem in the same folder, at a word boundary; failing
    that, the longest prefix a unit's cfg mentions (the rest then starts after the prefix's
    first word, ``thrasher-spear-se-2`` -> ``-spear-se-2``)."""
    folder, _, name = frame_stem.rpartition("/")
    best = None
    for image in images.get(folder, ()):
        base = image.stem.rpartition("/")[2]
        if name == base or (name.startswith(base) and not name[len(base)].isalpha()):
            if best is None or len(base) > len(best.stem.rpartition("/")[2]):
                best = image
    if best is not None:
        return best, name[len(best.stem.rpartition("/")[2]):]
    claims = [m for m in mentioned if frame_stem.startswith(m.stem)]
    if not claims:
        return None
    best = max(claims, key=lambda m: len(m.stem))
    first_word = re.match(r"[A-Za-z]+", name)
    return best, name[first_word.end():] if first_word else name


def pose_of(rest: str) -> str:
    """The pose a frame's name says after its unit's image (``-attack-melee-2`` -> ``attack``;
    ``""``, ``-ne`` -> ``stand``). Words are matched whole, then as prefixes (``defend1``)."""
    words = [w for w in re.split(r"[-_+.\s]+", rest.lower()) if w]
    words = [re.sub(r"\d+$", "", w) for w in words]
    words = [w for w in words if w and w not in _DIRECTIONS and w not in ("female", "male")]
    for pose, vocabulary in _POSE_WORDS:
        if any(w in vocabulary for w in words):
            return pose
    for pose, vocabulary in _POSE_WORDS:
        if any(w.startswith(v) for w in words for v in vocabulary):
            return pose
    return "stand" if not words else "attack"  # unnamed words are weapons (-bow, -sword, -runic)


# ---------------------------------------------------------------------------- team colours
def _hex(value: str) -> tuple[int, int, int]:
    value = value.strip().lstrip("#")[:6]
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def read_team_colors(core: Path) -> tuple[dict[str, tuple[tuple[int, int, int], ...]], tuple[tuple[int, int, int], ...]]:
    """``core/team-colors.cfg`` -> ({player colour id: (mid, max, min)}, the magenta palette).

    Player colours are the ``[color_range]``s marked ``default=yes``; the palette is
    ``[color_palette] magenta=``, its first entry the reference colour."""
    path = core / "team-colors.cfg"
    if not path.is_file():
        raise GanforgeError(f"{path} not found; the Debian package {PACKAGE} installs it")
    root = parse_wml(path.read_text(encoding="utf-8", errors="replace"))
    ranges = {}
    for tag in root.find("color_range"):
        if tag.attrs.get("default") == "yes" and "rgb" in tag.attrs:
            mid, high, low = (_hex(v) for v in tag.attrs["rgb"].split(",")[:3])
            ranges[tag.attrs["id"]] = (mid, high, low)
    palettes = root.find("color_palette")
    magenta = palettes[0].attrs.get("magenta", "") if palettes else ""
    palette = tuple(_hex(v) for v in magenta.split(",") if v.strip())
    if not ranges or not palette:
        raise GanforgeError(f"{path}: no player colours (default=yes) or no magenta palette")
    return ranges, palette


def recolor_map(palette: tuple[tuple[int, int, int], ...], new: tuple[tuple[int, int, int], ...]) -> dict[tuple, tuple]:
    """Wesnoth's ``recolor_range`` (src/color_range.cpp): each palette colour, by its brightness
    relative to the reference (first) colour, goes between the new range's min and mid (darker)
    or mid and max (brighter)."""
    mid, high, low = new
    ref = sum(palette[0]) // 3
    out = {}
    for old in palette:
        avg = sum(old) // 3
        if ref and avg <= ref:
            ratio = avg / ref
            color = tuple(int(ratio * m + (1 - ratio) * lo) for m, lo in zip(mid, low))
        else:
            ratio = (255.0 - avg) / (255.0 - ref)
            color = tuple(int(ratio * m + (1 - ratio) * hi) for m, hi in zip(mid, high))
        out[old] = tuple(min(255, c) for c in color)
    return out


def recolor(rgba: np.ndarray, mapping: dict[tuple, tuple]) -> tuple[np.ndarray, bool]:
    """Replace the palette colours of an ``(H, W, 4)`` uint8 image; also whether any was there."""
    out = rgba.copy()
    packed = (rgba[..., 0].astype(np.int32) << 16) | (rgba[..., 1].astype(np.int32) << 8) | rgba[..., 2]
    found = False
    for old, new in mapping.items():
        mask = (packed == ((old[0] << 16) | (old[1] << 8) | old[2])) & (rgba[..., 3] > 0)
        if mask.any():
            found = True
            out[mask, :3] = new
    return out, found


def team_color_of(name: str, colors: tuple[str, ...]) -> str:
    """A frame's team colour: uniform over ``colors`` by a hash of its name (the same on every machine)."""
    digest = hashlib.sha256(b"team-color:" + name.encode()).digest()
    return colors[int.from_bytes(digest[:4], "big") % len(colors)]


# -------------------------------------------------------------------------------- the data
def _frames(core: Path) -> Iterator[Path]:
    yield from sorted((core / "images" / "units").rglob("*.png"))


def read_sprites(core: Path) -> Dataset:
    """Every unit frame of a Wesnoth ``core`` folder (no cache; see the module docstring)."""
    units, mentioned = read_units(core)
    by_folder: dict[str, list[UnitImage]] = {}
    for image in units:
        by_folder.setdefault(image.stem.rpartition("/")[0], []).append(image)
    ranges, palette = read_team_colors(core)
    colors = tuple(sorted(ranges))
    maps = {c: recolor_map(palette, ranges[c]) for c in colors}
    images_dir = core / "images"
    samples, skips = [], Skips()
    for path in progress(list(_frames(core)), "reading Wesnoth sprites", "frame"):
        rel = path.relative_to(images_dir).as_posix()
        found = assign(rel[: -len(".png")], by_folder, mentioned)
        if found is None:
            skips.add(rel, "no unit type declares it")
            continue
        unit, rest = found
        try:
            rgba = np.asarray(open_rgba(path), dtype=np.uint8)
        except BadImageError as err:
            skips.add(rel, err.reason)
            continue
        color = team_color_of(rel, colors)
        rgba, has_team_color = recolor(rgba, maps[color])
        image = square(Image.fromarray(rgba, "RGBA"), SIDE, BACKGROUND)
        gender = "female" if "+female" in rest or "+female" in unit.stem else unit.gender
        samples.append(Sample(image=image, values={"race": unit.race, "gender": gender, "pose": pose_of(rest),
                                                   "team_color": color},
                              hidden=frozenset() if has_team_color else frozenset({"team_color"}), item=unit.unit))
    return assemble("wesnoth-sprites", samples, TRAITS, orders={"pose": POSES, "team_color": colors},
                    skipped=skips.entries)


@register_dataset("wesnoth-sprites", about="Battle for Wesnoth unit sprites (wesnoth-1.16-data): race, gender, "
                  "pose, team colour", licence=LICENCE)
def build_wesnoth_sprites(cfg: "DataConfig") -> Dataset:
    core = require("wesnoth-sprites", PACKAGE, WESNOTH_CORE)
    files = [*_frames(core), *(core / "units").glob("*/*.cfg"), core / "team-colors.cfg"]
    key = {"reader": READER_VERSION, "files": fingerprint(core, [f for f in files if f.is_file()])}
    return fit(cached("wesnoth-sprites", key, lambda: read_sprites(core)), cfg)
