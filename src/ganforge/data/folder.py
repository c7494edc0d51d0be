"""A folder of images, optionally one subfolder per class.

Layouts (hidden files and folders, names starting with ".", are ignored):

* ``DIR/<class>/**/<image>``: labelled, one class per subfolder holding images, classes in
  sorted name order; images lying directly in ``DIR`` are ignored with a warning.
* ``DIR/<image>``: unlabelled.

Files are recognised as images by extension (:data:`IMAGE_EXTENSIONS`, any case); other
files are ignored silently. Every image file goes through :func:`~.imageio.open_image`; a
file it refuses is skipped with a warning and recorded in ``Dataset.skipped``, so one bad
file never stops the load.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from tqdm import tqdm

from ..errors import GanforgeError
from .base import Dataset, register_dataset
from .imageio import BadImageError, open_image, to_array

if TYPE_CHECKING:
    from ..config import DataConfig

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})
# Below this many files the load is quick enough that a progress bar is only noise.
PROGRESS_MIN_FILES = 500


def _visible(path: Path) -> bool:
    return not path.name.startswith(".")


def _is_image_file(path: Path) -> bool:
    return _visible(path) and path.suffix.lower() in IMAGE_EXTENSIONS and path.is_file()


def _images_under(folder: Path) -> list[Path]:
    """Image files anywhere below ``folder`` (no hidden parts), in sorted path order."""
    found = []
    for path in folder.rglob("*"):
        if all(_visible(Path(part)) for part in path.relative_to(folder).parts) and _is_image_file(path):
            found.append(path)
    return sorted(found)


def scan_folder(root: Path) -> tuple[list[Path], list[int] | None, list[str] | None]:
    """Find the image files of an image folder.

    Returns:
        ``(files, labels, class_names)``: labels (one per file, indexing ``class_names``)
        and class names are ``None`` for a flat folder.

    Raises:
        GanforgeError: when ``root`` holds no image files at all.
    """
    entries = sorted(p for p in root.iterdir() if _visible(p))
    top_images = [p for p in entries if _is_image_file(p)]
    classes = [(d.name, files) for d in entries if d.is_dir() and (files := _images_under(d))]
    if classes:
        if top_images:
            warnings.warn(
                f"ignoring {len(top_images)} image files directly in {root}: it has class subfolders "
                f"({', '.join(name for name, _ in classes)}), so images must be inside them",
                stacklevel=3,
            )
        files: list[Path] = []
        labels: list[int] = []
        for label, (_, class_files) in enumerate(classes):
            files += class_files
            labels += [label] * len(class_files)
        return files, labels, [name for name, _ in classes]
    if top_images:
        return top_images, None, None
    if not entries:
        raise GanforgeError(f"folder {root} is empty")
    accepted = " ".join(sorted(IMAGE_EXTENSIONS))
    raise GanforgeError(f"folder {root} has no image files (accepted extensions: {accepted})")


def data_folder(cfg: "DataConfig", dataset: str, *, missing: str, needs: str) -> Path:
    """``data.path`` as an existing folder, or a one-line error naming ``dataset``: ``missing`` is
    appended to "needs data.path=DIR" when no path is given, ``needs`` says what the folder holds."""
    if cfg.path is None:
        raise GanforgeError(f"dataset={dataset} needs data.path=DIR{missing}")
    root = Path(cfg.path).expanduser()
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise GanforgeError(f"data.path '{root}' {what}; dataset={dataset} needs {needs}")
    return root


@register_dataset("folder")
def build_image_folder(cfg: "DataConfig") -> Dataset:
    """The images under ``data.path`` as uint8 ``(N, channels, resolution, resolution)``.

    Each image is center-cropped to a square and resized (see :func:`~.imageio.to_array`).
    Labels and class names come from the class subfolders, if any.
    """
    root = data_folder(cfg, "folder", missing=" (a folder of images or of class subfolders)", needs="a folder of images")
    files, labels, class_names = scan_folder(root)

    # Filled in place: a list of per-image arrays plus a final stack would need twice the memory.
    data = np.empty((len(files), cfg.channels, cfg.resolution, cfg.resolution), dtype=np.uint8)
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    show_bar = len(files) > PROGRESS_MIN_FILES and sys.stderr.isatty()
    for index, path in enumerate(tqdm(files, desc=f"loading {root.name}", unit="img", disable=not show_bar)):
        try:
            image = open_image(path)
        except BadImageError as err:
            skipped.append((str(path), err.reason))
            warnings.warn(f"skipping {path}: {err.reason}", stacklevel=2)
            continue
        data[len(kept)] = to_array(image, cfg.channels, cfg.resolution)
        kept.append(index)

    if not kept:
        first_path, first_reason = skipped[0]
        raise GanforgeError(
            f"no usable images in {root} ({len(skipped)} files skipped; first: {Path(first_path).name}: {first_reason})"
        )
    dataset = Dataset(name="folder", data=torch.from_numpy(data[: len(kept)]), skipped=skipped)
    if labels is not None:
        dataset.labels = torch.tensor([labels[i] for i in kept], dtype=torch.int64)
        dataset.class_names = class_names
        _warn_empty_classes(dataset)
    return dataset


def _warn_empty_classes(dataset: Dataset) -> None:
    """A class whose every file was skipped still has a label value; say so."""
    counts = torch.bincount(dataset.labels, minlength=len(dataset.class_names))
    empty = [name for name, count in zip(dataset.class_names, counts.tolist()) if count == 0]
    if empty:
        warnings.warn(f"class folders with no usable images: {', '.join(empty)}", stacklevel=3)
