"""Paired data sets for image-to-image tasks: a folder of aligned pairs, and synthetic edges -> shapes.

Both return a :class:`~ganforge.data.PairedDataset`: uint8 ``source (N, C_in, R, R)`` and
``target (N, C_out, R, R)`` with ``R = data.resolution``, ``C_out = data.channels`` and ``C_in =
data.source_channels`` (``paired-folder``: the same as ``channels`` when unset; ``shapes-edges``:
1 when unset, the edge map being grey).

``paired-folder`` (the layout of the pix2pix data sets, Isola et al. 2017)::

    DIR/A/<name>.<ext>      sources        or, per split:   DIR/train/A/..., DIR/train/B/...
    DIR/B/<name>.<ext>      targets                         DIR/test/A/...,  DIR/test/B/...

Files pair up by their path below ``A/`` and ``B/`` without the extension, so ``A/x.jpg`` and
``B/x.png`` are a pair. Every file goes through :func:`~.imageio.open_image`; a name found on
one side only, or a pair with an unusable file, is skipped with a warning and recorded in
``PairedDataset.skipped``, so one bad file never stops the load.

``shapes-edges`` needs no files: 1 to 3 filled circles, rectangles and triangles in random
colours on a light background (the target) and their white outlines on black (the source), the
"edges -> photo" setting of pix2pix. Each split draws its images in order from its own seeded
stream, so image ``i`` is the same whatever ``limit`` is, and the splits never share a seed.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..errors import GanforgeError
from .base import PairedDataset, register_dataset
from .folder import PROGRESS_MIN_FILES, _images_under, data_folder
from .imageio import BadImageError, open_image, to_array

if TYPE_CHECKING:
    from ..config import DataConfig

SOURCE_DIR, TARGET_DIR = "A", "B"
# Centre crops of a source and target whose aspect ratios differ by more than this show different
# parts of the scene, so the pair no longer lines up.
ASPECT_TOLERANCE = 0.01


def _source_channels(cfg: "DataConfig", default: int) -> int:
    # getattr: DataConfig gains ``source_channels`` with the paired tasks; older configs lack it.
    return getattr(cfg, "source_channels", None) or default


# --- paired-folder --------------------------------------------------------------------------


@register_dataset("paired-folder", batch="pairs", splits=("train", "test"))
def build_paired_folder(cfg: "DataConfig") -> PairedDataset:
    """The image pairs under ``data.path`` (see the module docstring for the layout).

    Both images of a pair are centre-cropped to a square and resized (see
    :func:`~.imageio.to_array`); sources get ``source_channels`` channels, targets ``channels``.

    Raises:
        GanforgeError: no ``data.path``, no ``A/`` or ``B/`` folder, or no usable pair at all.
    """
    root = _paired_root(cfg)
    skipped: list[tuple[str, str]] = []
    sources, targets = _index(root / SOURCE_DIR, skipped), _index(root / TARGET_DIR, skipped)
    names = sorted(sources.keys() & targets.keys())
    _skip_unmatched(sources, targets, TARGET_DIR, skipped)
    _skip_unmatched(targets, sources, SOURCE_DIR, skipped)

    in_channels, out_channels = _source_channels(cfg, cfg.channels), cfg.channels
    source = np.empty((len(names), in_channels, cfg.resolution, cfg.resolution), dtype=np.uint8)
    target = np.empty((len(names), out_channels, cfg.resolution, cfg.resolution), dtype=np.uint8)
    kept: list[str] = []
    misaligned: list[str] = []
    unusable: list[BadImageError] = []  # the first bad file of each dropped pair
    show_bar = len(names) > PROGRESS_MIN_FILES and sys.stderr.isatty()
    for name in tqdm(names, desc=f"loading {root.name}", unit="pair", disable=not show_bar):
        try:
            source_image, target_image = _open_pair(sources[name], targets[name], skipped)
        except BadImageError as err:
            unusable.append(err)
            continue
        if abs(_aspect(source_image) / _aspect(target_image) - 1) > ASPECT_TOLERANCE:
            misaligned.append(name)
        source[len(kept)] = to_array(source_image, in_channels, cfg.resolution)
        target[len(kept)] = to_array(target_image, out_channels, cfg.resolution)
        kept.append(name)

    if not kept:
        found = f"found {len(sources)} images in A/, {len(targets)} in B/, {len(names)} matching names"
        if unusable:
            found += f", {len(unusable)} pairs unusable (first: {unusable[0]})"
        raise GanforgeError(f"'{root}' needs A/ and B/ subfolders with images of matching names; {found}")
    if misaligned:
        warnings.warn(
            f"{len(misaligned)} pairs in {root} have sources and targets of different aspect ratios "
            f"(first: {misaligned[0]}); their centre crops may not line up",
            stacklevel=2,
        )
    n = len(kept)
    return PairedDataset(
        name="paired-folder",
        source=torch.from_numpy(source[:n]).contiguous(),
        target=torch.from_numpy(target[:n]).contiguous(),
        names=kept,
        skipped=skipped,
    )


def _paired_root(cfg: "DataConfig") -> Path:
    """The folder holding ``A/`` and ``B/``: ``data.path`` or its ``<split>/`` subfolder."""
    layout = f"a folder with {SOURCE_DIR}/ (sources) and {TARGET_DIR}/ (targets) subfolders, or split folders"
    root = data_folder(cfg, "paired-folder", missing=f", {layout} (train/A, train/B, ...)", needs=layout)
    if (root / cfg.split / SOURCE_DIR).is_dir():
        root = root / cfg.split
    missing = [f"{sub}/" for sub in (SOURCE_DIR, TARGET_DIR) if not (root / sub).is_dir()]
    if missing:
        raise GanforgeError(
            f"'{root}' has no {' or '.join(missing)} subfolder; dataset=paired-folder needs {SOURCE_DIR}/ and "
            f"{TARGET_DIR}/ subfolders with images of matching names (or {cfg.split}/{SOURCE_DIR} and "
            f"{cfg.split}/{TARGET_DIR})"
        )
    return root


def _index(folder: Path, skipped: list[tuple[str, str]]) -> dict[str, Path]:
    """Image files below ``folder`` by pair name: relative path without extension (``sub/x``).

    Two files with one name (``x.png`` and ``x.jpg``) cannot both pair; the first in sorted
    order is used and the others are skipped with a warning and recorded in ``skipped``.
    """
    index: dict[str, Path] = {}
    for path in _images_under(folder):
        name = path.relative_to(folder).with_suffix("").as_posix()
        if name in index:
            reason = f"same name as {index[name].name}"
            skipped.append((str(path), reason))
            warnings.warn(f"skipping {path}: {reason}", stacklevel=3)
            continue
        index[name] = path
    return index


def _skip_unmatched(files: dict[str, Path], others: dict[str, Path], other_dir: str, skipped: list) -> None:
    """Record every file of ``files`` whose name ``others`` lacks in ``skipped``, with one warning.

    Unmatched files tend to come in bulk (a folder with extra images), so one warning names
    the count and the first few rather than one warning per file.
    """
    lonely = sorted(name for name in files if name not in others)
    if not lonely:
        return
    reason = f"no image of the same name in {other_dir}/"
    skipped += [(str(files[name]), reason) for name in lonely]
    shown = ", ".join(str(files[name]) for name in lonely[:3]) + (", ..." if len(lonely) > 3 else "")
    warnings.warn(f"skipping {len(lonely)} images with {reason}: {shown}", stacklevel=3)


def _open_pair(source: Path, target: Path, skipped: list[tuple[str, str]]) -> tuple[Image.Image, Image.Image]:
    """Both images of a pair.

    Raises:
        BadImageError: the first unusable file, after recording every file of the pair in
            ``skipped`` (the bad ones with their reason, a good partner as dropped) with a warning.
    """
    images, errors = [], []
    for path in (source, target):
        try:
            images.append(open_image(path))
        except BadImageError as err:
            errors.append(err)
    if not errors:
        return images[0], images[1]
    for err in errors:
        skipped.append((err.path, err.reason))
        warnings.warn(f"skipping {err.path}: {err.reason}", stacklevel=3)
    bad = {err.path for err in errors}
    skipped += [(str(path), f"its pair {Path(errors[0].path).name} is unusable") for path in (source, target)
                if str(path) not in bad]
    raise errors[0]


def _aspect(image: Image.Image) -> float:
    width, height = image.size
    return width / height


# --- shapes-edges ---------------------------------------------------------------------------

SHAPES_SIZES = {"train": 2_000, "test": 500}
SHAPES_SEEDS = {"train": 20_170_001, "test": 20_170_002}  # one per split: the splits never share an image
MAX_SHAPES = 3
_KINDS = ("circle", "rectangle", "triangle")
# Per shape: kind, 3 colour channels, 6 geometry numbers. Per image: count, 3 background channels.
_PER_SHAPE = 10
_PER_IMAGE = 4 + MAX_SHAPES * _PER_SHAPE
# Shapes are drawn at once for this many images: bounds the (images, shapes, R, R) masks in memory.
_CHUNK_PIXELS = 2**24


@register_dataset("shapes-edges", batch="pairs", splits=("train", "test"))
def build_shapes_edges(cfg: "DataConfig") -> PairedDataset:
    """Synthetic edges -> shapes pairs: 2,000 train or 500 test images (fewer with ``limit``).

    Target: uint8 ``(N, channels, R, R)``, 1 to 3 overlapping filled shapes on a light
    background (grey by ITU-R 601 luma when ``channels`` is 1). Source: uint8
    ``(N, source_channels or 1, R, R)``, 255 on the visible outline of every shape, 0 elsewhere.
    """
    count = SHAPES_SIZES[cfg.split]
    if cfg.limit is not None:
        count = min(count, cfg.limit)
    # Row i comes from the same place in the split's stream whatever ``count`` is: limit keeps a prefix.
    params = np.random.default_rng(SHAPES_SEEDS[cfg.split]).random((count, _PER_IMAGE))
    res = cfg.resolution
    chunk = max(1, _CHUNK_PIXELS // (MAX_SHAPES * res * res))
    colours, labels = [], []
    for start in range(0, count, chunk):
        rgb, label = draw_shapes(params[start : start + chunk], res)
        colours.append(rgb)
        labels.append(label)
    rgb = np.concatenate(colours) if colours else np.zeros((0, 3, res, res), np.uint8)
    label = np.concatenate(labels) if labels else np.zeros((0, res, res), np.int64)

    target = rgb if cfg.channels == 3 else _luma(rgb)
    edges = outline(label)[:, None]  # (N, 1, R, R) bool
    source = np.repeat(edges, _source_channels(cfg, 1), axis=1).astype(np.uint8) * 255
    return PairedDataset(
        name="shapes-edges",
        source=torch.from_numpy(np.ascontiguousarray(source)),
        target=torch.from_numpy(np.ascontiguousarray(target)),
        names=[f"{cfg.split}-{i:05d}" for i in range(count)],
    )


def draw_shapes(params: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Paint shapes from uniform numbers ``params`` (N, _PER_IMAGE) in [0, 1).

    Returns uint8 colours ``(N, 3, res, res)`` and int64 labels ``(N, res, res)``: 0 for the
    background, ``k`` where shape ``k`` (1-based) is the topmost. Later shapes cover earlier ones.
    Geometry is in units of the image side, so a data set looks the same at every resolution.
    """
    n = params.shape[0]
    count = 1 + (params[:, 0] * MAX_SHAPES).astype(np.int64)  # (N,) 1..MAX_SHAPES
    background = 215 + 40 * params[:, 1:4]  # (N, 3) light, slightly tinted
    shape = params[:, 4:].reshape(n * MAX_SHAPES, _PER_SHAPE)  # shape s of image i at row i * S + s
    kind = (shape[:, 0] * len(_KINDS)).astype(np.int64)
    colour = 190 * shape[:, 1:4]  # darker than any background
    active = (np.arange(MAX_SHAPES)[None, :] < count[:, None]).reshape(-1)

    # Each kind is drawn only for the shapes of that kind: the masks are the costly part.
    masks = np.zeros((n * MAX_SHAPES, res, res), dtype=bool)
    grid = ((np.arange(res) + 0.5) / res).astype(np.float32)  # pixel centres
    for index, draw in enumerate((_circles, _rectangles, _triangles)):
        rows = np.flatnonzero(active & (kind == index))
        if len(rows):
            masks[rows] = draw(grid, shape[rows, 4:].astype(np.float32))
    masks = masks.reshape(n, MAX_SHAPES, res, res)

    # The topmost shape at a pixel is the one with the highest index covering it.
    label = (masks * np.arange(1, MAX_SHAPES + 1, dtype=np.uint8)[None, :, None, None]).max(axis=1)  # (N, R, R)
    colour = colour.reshape(n, MAX_SHAPES, 3)
    palette = np.rint(np.concatenate([background[:, None], colour], axis=1)).astype(np.uint8)  # (N, 1 + S, 3)
    # One flat take per channel: several times faster than fancy indexing with two index arrays.
    flat = label + (np.arange(n, dtype=np.int64) * (1 + MAX_SHAPES))[:, None, None]  # (N, R, R) into palette rows
    by_channel = np.ascontiguousarray(palette.transpose(2, 0, 1)).reshape(3, -1)
    rgb = np.stack([by_channel[c].take(flat) for c in range(3)], axis=1)  # (N, 3, R, R)
    return rgb, label.astype(np.int64)


# Each shape drawer maps the pixel-centre grid (R,) and geometry numbers g (M, 6) in [0, 1) to
# masks (M, R, R). Centres lie in [0.2, 0.8] of the image; x and y stay separable until the
# last step, which keeps the work at a few passes over the masks.


def _centre(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (0.2 + 0.6 * g[:, 0])[:, None, None], (0.2 + 0.6 * g[:, 1])[:, None, None]


def _circles(grid: np.ndarray, g: np.ndarray) -> np.ndarray:
    cx, cy = _centre(g)
    radius = (0.1 + 0.2 * g[:, 2])[:, None, None]
    return (grid[None, None, :] - cx) ** 2 + (grid[None, :, None] - cy) ** 2 <= radius**2


def _rectangles(grid: np.ndarray, g: np.ndarray) -> np.ndarray:
    cx, cy = _centre(g)
    half_w, half_h = (0.08 + 0.22 * g[:, 2])[:, None, None], (0.08 + 0.22 * g[:, 3])[:, None, None]
    return (np.abs(grid[None, None, :] - cx) <= half_w) & (np.abs(grid[None, :, None] - cy) <= half_h)


def _triangles(grid: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Triangles inscribed in circles of radius ``0.15 + 0.25 g_2``: vertex ``k`` at angle
    ``2 pi (g_3 + k / 3)``, vertices 1 and 2 jittered by up to 0.25 rad (``g_4``, ``g_5``)."""
    cx, cy = _centre(g)
    radius = (0.15 + 0.25 * g[:, 2])[:, None]
    turn = 2 * np.pi * (g[:, 3:4] + np.arange(3, dtype=np.float32) / 3)  # (M, 3) evenly spread
    turn[:, 1:] += 0.5 * (g[:, 4:6] - 0.5)  # jittered by less than a third of a turn: order kept
    vx, vy = cx[:, :, 0] + radius * np.cos(turn), cy[:, :, 0] + radius * np.sin(turn)  # (M, 3)
    inside_pos = inside_neg = None
    for k in range(3):
        ax, ay = vx[:, k, None, None], vy[:, k, None, None]
        bx, by = vx[:, (k + 1) % 3, None, None], vy[:, (k + 1) % 3, None, None]
        side = (bx - ax) * (grid[None, :, None] - ay) - (by - ay) * (grid[None, None, :] - ax)  # side of edge a->b
        pos, neg = side >= 0, side <= 0
        inside_pos = pos if inside_pos is None else inside_pos & pos
        inside_neg = neg if inside_neg is None else inside_neg & neg
    # The vertices go round in one direction, so inside means on the same side of all three edges.
    return inside_pos | inside_neg


def outline(label: np.ndarray) -> np.ndarray:
    """Visible outlines of a label map ``(N, R, R)``: bool, True where a 4-neighbour lies below.

    A pixel is on an outline when a neighbour has a lower label (the background, or a shape
    this one covers), so outlines are one pixel wide, inside the shape they bound, and where
    shapes overlap only the visible borders are drawn, as an edge detector would find them.
    The image border is not an outline.
    """
    padded = np.pad(label, ((0, 0), (1, 1), (1, 1)), mode="edge")
    centre = padded[:, 1:-1, 1:-1]
    edges = np.zeros(label.shape, dtype=bool)
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        edges |= centre > padded[:, 1 + dy : padded.shape[1] - 1 + dy, 1 + dx : padded.shape[2] - 1 + dx]
    return edges


def _luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 3, H, W)`` -> ``(N, 1, H, W)``: ITU-R 601 luma, as Pillow's ``convert("L")`` computes it."""
    r, g, b = rgb.astype(np.uint32).transpose(1, 0, 2, 3)
    return ((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16).astype(np.uint8)[:, None]
