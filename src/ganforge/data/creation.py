"""What the creation data sets share: labelled colour images with several traits, built once from
Debian or PyPI packages and cached.

The readers (``avatars.py``, ``wesnoth.py``, ``portraits.py``, ``turntable.py``, ``landscapes.py``)
each turn a package into a list of :class:`Sample` (an RGB image, its value of each trait, which
traits can be seen, and the object it shows); :func:`assemble` makes them one :class:`~.base.Dataset`
with ``(N, T)`` int64 labels, its :class:`~ganforge.conditioning.Conditioning` and a ``(N, T)``
visibility mask. :func:`cached` keeps the result under ``$GANFORGE_CACHE_DIR/data`` (an ``.npz``
keyed by the reader's version, its options and a fingerprint of the input files), so the decoding
or rendering runs once; :func:`fit` then gives the data the configured resolution and channels.

The packages are installed by ``make creation-data``; a missing one is a one-line error
(:func:`require`) naming the package to install.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

from ..conditioning import Conditioning, Trait
from ..errors import GanforgeError
from ..fileio import atomic_write_bytes, cache_dir
from .base import Dataset
from .imageio import load_checked

if TYPE_CHECKING:
    from ..config import DataConfig

MAKE_TARGET = "make creation-data"
CACHE_FORMAT = 1  # bump when the .npz layout changes


def require(dataset: str, package: str, path: Path) -> Path:
    """``path`` if it is a folder, else a one-line GanforgeError naming the Debian package to install."""
    if not Path(path).is_dir():
        raise GanforgeError(f"data set '{dataset}' needs the Debian package {package} ({path} not found): "
                            f"apt-get install {package}, or `{MAKE_TARGET}`")
    return Path(path)


@dataclass
class Sample:
    """One labelled image.

    ``image``: uint8 ``(H, W, 3)``. ``values``: trait name -> value. ``hidden``: the traits that
    cannot be seen in this image (their value is still recorded). ``item``: the object it shows,
    when several images show one (a turntable's views), else None.
    """

    image: np.ndarray
    values: dict[str, str]
    hidden: frozenset[str] = frozenset()
    item: str | None = None


@dataclass
class Skips:
    """Files a reader could not use, with a few-word reason each (``Dataset.skipped``)."""

    entries: list[tuple[str, str]] = field(default_factory=list)

    def add(self, name: str, reason: str) -> None:
        self.entries.append((name, reason))


def assemble(name: str, samples: Sequence[Sample], traits: Sequence[str], *, orders: dict[str, Sequence[str]] | None = None,
             skipped: Iterable[tuple[str, str]] = ()) -> Dataset:
    """``samples`` -> a :class:`Dataset` with ``(N, T)`` labels over ``traits`` (in that column order).

    A trait's values are ``orders[trait]`` when given (every value, seen or not: python-avatars'
    members), else the values the samples have, sorted. ``items`` and ``item_names`` are filled
    when any sample names its item.

    Raises:
        GanforgeError: no samples (every file was skipped).
    """
    skipped = list(skipped)
    if not samples:
        detail = f"; first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise GanforgeError(f"data set '{name}' has no usable images ({len(skipped)} skipped{detail})")
    orders = orders or {}
    conditioning = Conditioning(tuple(
        Trait(t, tuple(orders[t]) if t in orders else tuple(sorted({s.values[t] for s in samples}))) for t in traits))
    lookup = [{v: i for i, v in enumerate(trait.values)} for trait in conditioning.traits]
    labels = torch.tensor([[lookup[j][s.values[t]] for j, t in enumerate(traits)] for s in samples], dtype=torch.long)
    visible = torch.tensor([[t not in s.hidden for t in traits] for s in samples], dtype=torch.bool)
    data = torch.from_numpy(np.ascontiguousarray(np.stack([s.image for s in samples]).transpose(0, 3, 1, 2)))
    items = item_names = None
    if any(s.item is not None for s in samples):
        item_names = sorted({s.item or "" for s in samples})
        index = {n: i for i, n in enumerate(item_names)}
        items = torch.tensor([index[s.item or ""] for s in samples], dtype=torch.long)
    return Dataset(name=name, data=data, labels=labels, skipped=skipped, traits=conditioning, visible=visible,
                   items=items, item_names=item_names)


# ---------------------------------------------------------------------------------- images
def open_rgba(path: Path) -> Image.Image:
    """A package's image file, opened with the defensive checks of :func:`~.imageio.open_image`
    (allowed formats, size limits, full decode; one frame), as RGBA.

    Raises:
        BadImageError: the file is not a usable image.
    """
    return load_checked(Path(path), single_frame=True).convert("RGBA")


def square(img: Image.Image, side: int, background: tuple[int, int, int]) -> np.ndarray:
    """An RGBA image composited over ``background``, padded to a centred square of that colour
    (nothing cropped, nothing stretched), resized to ``side`` with Lanczos: uint8 ``(side, side, 3)``."""
    rgba = img.convert("RGBA")
    width, height = rgba.size
    edge = max(width, height)
    canvas = Image.new("RGBA", (edge, edge), (*background, 255))
    canvas.alpha_composite(rgba, ((edge - width) // 2, (edge - height) // 2))
    out = canvas.convert("RGB")
    if edge != side:
        out = out.resize((side, side), Image.Resampling.LANCZOS)
    return np.asarray(out, dtype=np.uint8).copy()


def decode_png(data: bytes, label: str) -> np.ndarray:
    """PNG bytes (a renderer's output) -> uint8 ``(H, W, 3)``, through the same checks as files."""
    return np.asarray(load_checked(data, label=label).convert("RGB"), dtype=np.uint8).copy()


def progress(items: Sequence, desc: str, unit: str):
    """A progress bar on a terminal (stderr), nothing elsewhere."""
    return tqdm(items, desc=desc, unit=unit, disable=not sys.stderr.isatty())


# ----------------------------------------------------------------------------------- cache
def fingerprint(root: Path, paths: Iterable[Path]) -> str:
    """A digest of the input files' names, sizes and modification times (a reinstalled or
    upgraded package gets a new cache entry)."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cached(name: str, key: dict, build: Callable[[], Dataset]) -> Dataset:
    """The data set ``build()`` makes, read from the cache when an entry for ``key`` exists.

    ``key``: JSON-able; everything the result depends on (reader version, options, input
    fingerprint). The entry is written atomically, so an interrupted build leaves nothing.
    """
    text = json.dumps({"format": CACHE_FORMAT, "dataset": name, **key}, sort_keys=True)
    path = cache_dir() / "data" / f"{name}-{hashlib.sha256(text.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        try:
            return _load(path, name)
        except (OSError, ValueError, KeyError) as err:  # a damaged entry is rebuilt, not trusted
            print(f"rebuilding {name}: cache entry {path} unreadable ({err})", file=sys.stderr)
    ds = build()
    _save(path, ds, key=text)
    return ds


def _save(path: Path, ds: Dataset, *, key: str) -> None:
    meta = {"key": key, "conditioning": ds.conditioning.to_json() if ds.conditioning else None,
            "item_names": ds.item_names, "skipped": [list(s) for s in ds.skipped]}
    arrays = {"data": ds.data.numpy(), "labels": ds.labels.numpy(), "visible": ds.visible.numpy(),
              "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    if ds.items is not None:
        arrays["items"] = ds.items.numpy()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def _load(path: Path, name: str) -> Dataset:
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(npz["meta"].tobytes().decode())
        items = torch.from_numpy(npz["items"]) if "items" in npz.files else None
        return Dataset(name=name, data=torch.from_numpy(npz["data"]), labels=torch.from_numpy(npz["labels"]),
                       skipped=[tuple(s) for s in meta["skipped"]],
                       traits=Conditioning.from_json(meta["conditioning"]),
                       visible=torch.from_numpy(npz["visible"]), items=items, item_names=meta["item_names"])


# ------------------------------------------------------------------------------- fitting
def fit(ds: Dataset, cfg: "DataConfig", *, aspect: float = 1.0) -> Dataset:
    """The data at ``data.resolution`` (the height; the width keeps ``aspect`` = width / height)
    and ``data.channels`` (1: ITU-R 601 luma). Antialiased bilinear, like ``resize_uint8``."""
    height, width = cfg.resolution, max(1, round(cfg.resolution * aspect))
    data = ds.data
    if tuple(data.shape[2:]) != (height, width):
        out = torch.empty((data.shape[0], data.shape[1], height, width), dtype=torch.uint8)
        for start in range(0, data.shape[0], 4096):
            block = F.interpolate(data[start : start + 4096].float(), size=(height, width), mode="bilinear",
                                  antialias=True, align_corners=False)
            out[start : start + 4096] = block.round_().clamp_(0, 255).to(torch.uint8)
        data = out
    if cfg.channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        data = (data.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    ds.data = data.contiguous()
    return ds
