"""``avatars``: procedural cartoon characters from PyPI's ``python-avatars`` (MIT), with exact labels.

Every image draws each of the 12 traits (:data:`TRAITS`, python-avatars' own parameter names)
**uniformly** over python-avatars' members (``Avatar.random()`` would favour "none" for facial
hair and accessories), from a seed per image, so the first n images are the same whatever the
sample count. Values are the members' names in lower case (``short_flat``, ``red``); ``top`` holds
the hair styles and the hats, and the one name both have, ``HAT``, becomes ``hair_hat`` and
``hat_hat``. Everything else is fixed: transparent style, default nose (invisible at 64 px), the
default shirt graphic.

The SVG is rendered by ``rsvg-convert -w 64 -h 64 -b white`` (Debian ``librsvg2-bin``), stretched
from 264 x 280 to the square so the character fills the frame; cairosvg draws these SVGs wrongly.
Rendering runs in parallel processes, once: the result is cached (:func:`~.creation.cached`).

Some traits hide others (a hat hides the hair colour, a hijab the facial hair, dark glasses the
eyes). Which ones is *measured*, not listed: for each rule of :data:`RULES` ("trait t depends on
trait c"), every value of t is rendered at 64 px for each value of c, all else fixed, and t is
visible under c when any of those renders differs from the first (:func:`visibility_table`).
``Dataset.visible`` holds the result per image, so benches score only what can be seen.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from importlib import metadata
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from ..errors import GanforgeError
from .base import Dataset, register_dataset
from .creation import MAKE_TARGET, Sample, assemble, cached, decode_png, fit, progress

if TYPE_CHECKING:
    from ..config import DataConfig

READER_VERSION = 1
SIDE = 64
SEED = 20_240_024
DEFAULT_SAMPLES = {"train": 20_000, "test": 2_000}
_SPLIT_STREAM = {"train": 0, "test": 1}  # each split draws from its own seed stream

# python-avatars' Avatar() parameter names, in label column order.
TRAITS = ("top", "hair_color", "skin_color", "eyes", "eyebrows", "mouth", "facial_hair", "facial_hair_color",
          "accessory", "clothing", "clothing_color", "hat_color")
# (trait, context): the trait may be hidden by the context trait's value (module docstring).
RULES = (("hair_color", "top"), ("hat_color", "top"), ("facial_hair", "top"), ("accessory", "top"),
         ("eyebrows", "top"), ("eyes", "accessory"), ("facial_hair_color", "facial_hair"),
         ("clothing_color", "clothing"))
# A trait drawn inside another is hidden wherever that one is.
INSIDE = {"facial_hair_color": "facial_hair"}
# The character every visibility rule varies around: a top that shows hair, facial hair and
# glasses, a beard, a plain coloured shirt.
BASE = {"top": "short_flat", "hair_color": "brown", "skin_color": "light", "eyes": "default", "eyebrows": "default",
        "mouth": "default", "facial_hair": "beard_medium", "facial_hair_color": "brown", "accessory": "none",
        "clothing": "shirt_crew_neck", "clothing_color": "blue_01", "hat_color": "red"}
# A render differs from another when at least MIN_PIXELS pixels differ by more than PIXEL_DELTA
# in some channel (a few anti-aliased edge pixels do not make a trait visible).
PIXEL_DELTA = 24
MIN_PIXELS = 4

PACKAGE_HINT = f"pip install 'ganforge[creation]', or `{MAKE_TARGET}`"
RSVG_HINT = f"apt-get install librsvg2-bin, or `{MAKE_TARGET}`"

Render = Callable[[str], np.ndarray]


def _avatars_module():
    try:
        import python_avatars
    except ImportError:
        raise GanforgeError(f"data set 'avatars' needs the Python package python-avatars: {PACKAGE_HINT}") from None
    return python_avatars


@lru_cache(maxsize=1)
def members() -> dict[str, dict[str, object]]:
    """Trait -> {value name: python-avatars member}, in python-avatars' order."""
    pa = _avatars_module()

    def named(enum) -> dict[str, object]:
        return {m.name.lower(): m for m in enum}

    hair, hats = named(pa.HairType), named(pa.HatType)
    shared = hair.keys() & hats.keys()
    top = {(f"hair_{k}" if k in shared else k): v for k, v in hair.items()}
    top |= {(f"hat_{k}" if k in shared else k): v for k, v in hats.items()}
    return {"top": top, "hair_color": named(pa.HairColor), "skin_color": named(pa.SkinColor),
            "eyes": named(pa.EyeType), "eyebrows": named(pa.EyebrowType), "mouth": named(pa.MouthType),
            "facial_hair": named(pa.FacialHairType), "facial_hair_color": named(pa.HairColor),
            "accessory": named(pa.AccessoryType), "clothing": named(pa.ClothingType),
            "clothing_color": named(pa.ClothingColor), "hat_color": named(pa.ClothingColor)}


def value_names() -> dict[str, tuple[str, ...]]:
    """Trait -> its value names, in label index order."""
    return {t: tuple(members()[t]) for t in TRAITS}


def sample_rows(n: int, *, split: str = "train", seed: int = SEED) -> np.ndarray:
    """int64 ``(n, T)``: each trait of each image uniform over its values; row i depends only on
    ``(seed, split, i)``."""
    sizes = np.array([len(v) for v in value_names().values()])
    stream = _SPLIT_STREAM[split]
    return np.stack([np.random.default_rng([seed, stream, i]).integers(0, sizes) for i in range(n)]) if n else \
        np.zeros((0, len(TRAITS)), dtype=np.int64)


def avatar_svg(row: Sequence[int]) -> str:
    """The SVG of one character, ``row`` holding one value index per trait of :data:`TRAITS`."""
    pa = _avatars_module()
    table = members()
    chosen = {t: list(table[t].values())[int(i)] for t, i in zip(TRAITS, row)}
    return pa.Avatar(style=pa.AvatarStyle.TRANSPARENT, nose=pa.NoseType.DEFAULT, **chosen).render()


def rsvg_render(svg: str) -> np.ndarray:
    """``rsvg-convert -w 64 -h 64 -b white`` (stretched to the square) -> uint8 ``(64, 64, 3)``."""
    exe = shutil.which("rsvg-convert")
    if exe is None:
        raise GanforgeError(f"data set 'avatars' renders with rsvg-convert (Debian librsvg2-bin): {RSVG_HINT}")
    done = subprocess.run([exe, "-w", str(SIDE), "-h", str(SIDE), "-b", "white", "-f", "png"], input=svg.encode(),
                          capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        raise GanforgeError(f"rsvg-convert failed: {done.stderr.decode(errors='replace').strip()[:200]}")
    return decode_png(done.stdout, "rsvg-convert output")


def _render_rows(rows: np.ndarray) -> np.ndarray:
    """Worker: render each row with rsvg-convert -> uint8 ``(n, 64, 64, 3)``."""
    return np.stack([rsvg_render(avatar_svg(row)) for row in rows])


def render_rows(rows: np.ndarray, *, render: Render | None = None, workers: int | None = None,
                desc: str = "rendering avatars") -> np.ndarray:
    """Render every row -> uint8 ``(n, H, W, 3)``.

    ``render``: SVG -> image; None is :func:`rsvg_render` in ``workers`` processes (None: one per
    CPU). A custom ``render`` (tests) runs in this process.
    """
    if render is not None:
        return np.stack([render(avatar_svg(row)) for row in progress(rows, desc, "image")])
    workers = workers or os.cpu_count() or 1
    chunks = [rows[i : i + 64] for i in range(0, len(rows), 64)]
    if workers == 1:
        return np.concatenate([_render_rows(c) for c in progress(chunks, desc, "chunk")])
    # fork, not spawn: spawn re-runs the caller's main module, which a script without a
    # __main__ guard cannot survive; the workers only build SVG text and run rsvg-convert (no torch).
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return np.concatenate(list(progress(pool.map(_render_rows, chunks), desc, "chunk")))


def differs(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two renders differ visibly (see :data:`PIXEL_DELTA`, :data:`MIN_PIXELS`)."""
    delta = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=-1)
    return int((delta > PIXEL_DELTA).sum()) >= MIN_PIXELS


def visibility_table(*, render: Render | None = None, workers: int | None = None,
                     rules: Sequence[tuple[str, str]] = RULES) -> dict[tuple[str, str], np.ndarray]:
    """``{(trait, context): bool (values of context,)}`` for each of ``rules``: whether ``trait``
    shows under each value of ``context`` (every value of the trait rendered around :data:`BASE`;
    visible when any render differs from the first)."""
    names = value_names()
    base = np.array([names[t].index(BASE[t]) for t in TRAITS])
    rows, spans = [], []
    for trait, context in rules:
        t, c = TRAITS.index(trait), TRAITS.index(context)
        for ci in range(len(names[context])):
            start = len(rows)
            for ti in range(len(names[trait])):
                row = base.copy()
                row[c], row[t] = ci, ti
                rows.append(row)
            spans.append((trait, context, ci, start, len(rows)))
    images = render_rows(np.stack(rows), render=render, workers=workers, desc="measuring visibility")
    table = {rule: np.zeros(len(names[rule[1]]), dtype=bool) for rule in rules}
    for trait, context, ci, start, end in spans:
        table[(trait, context)][ci] = any(differs(images[start], images[k]) for k in range(start + 1, end))
    return table


def hidden_traits(row: Sequence[int], table: dict[tuple[str, str], np.ndarray]) -> frozenset[str]:
    """The traits one character does not show, by the measured ``table``."""
    hidden = {trait for (trait, context), shows in table.items() if not shows[int(row[TRAITS.index(context)])]}
    hidden |= {inner for inner, outer in INSIDE.items() if outer in hidden}
    return frozenset(hidden)


def make_avatars(n: int, *, split: str = "train", seed: int = SEED, render: Render | None = None,
                 workers: int | None = None, rules: Sequence[tuple[str, str]] = RULES) -> Dataset:
    """``n`` rendered characters with ``(n, 12)`` labels and their visibility (no cache)."""
    rows = sample_rows(n, split=split, seed=seed)
    table = visibility_table(render=render, workers=workers, rules=rules)
    images = render_rows(rows, render=render, workers=workers)
    names = value_names()
    samples = [Sample(image=img, values={t: names[t][int(i)] for t, i in zip(TRAITS, row)},
                      hidden=hidden_traits(row, table)) for img, row in zip(images, rows)]
    return assemble("avatars", samples, TRAITS, orders=names)


def _rsvg_version() -> str:
    exe = shutil.which("rsvg-convert")
    if exe is None:
        raise GanforgeError(f"data set 'avatars' renders with rsvg-convert (Debian librsvg2-bin): {RSVG_HINT}")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()


@register_dataset("avatars", splits=("train", "test"),
                  about="cartoon characters rendered from PyPI's python-avatars, 12 traits drawn uniformly",
                  licence="MIT (python-avatars)")
def build_avatars(cfg: "DataConfig") -> Dataset:
    """``data.samples`` characters (default 20,000 for train, 2,000 for test, another seed stream)."""
    _avatars_module()
    n = cfg.samples or DEFAULT_SAMPLES[cfg.split]
    key = {"reader": READER_VERSION, "n": n, "split": cfg.split, "seed": SEED,
           "python-avatars": metadata.version("python_avatars"), "rsvg": _rsvg_version()}
    ds = cached("avatars", key, lambda: make_avatars(n, split=cfg.split))
    return fit(ds, cfg)
