"""Fashion-MNIST (Xiao et al. 2017) read from its IDX files.

The files come from the ``dataset-fashion-mnist`` package, which installs them into
``/usr/share/datasets/fashion-mnist``; ``GANFORGE_DATA_DIR`` (or ``data.path``) points
elsewhere. Nothing is downloaded.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import GanforgeError
from .base import Dataset, register_dataset
from .transforms import resize_uint8

if TYPE_CHECKING:
    from ..config import DataConfig

FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
DEFAULT_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
INSTALL_HINT = "install it with `apt-get install dataset-fashion-mnist` or set GANFORGE_DATA_DIR"

# File name prefix of each split (the test split is called "t10k" upstream).
_SPLIT_PREFIX = {"train": "train", "test": "t10k"}

# IDX type byte -> element type; multi-byte types are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def fashion_dir() -> Path:
    """The Fashion-MNIST folder: ``$GANFORGE_DATA_DIR`` if set, else the package's location."""
    return Path(os.environ.get("GANFORGE_DATA_DIR") or DEFAULT_FASHION_DIR).expanduser()


def read_idx(path: str | Path) -> torch.Tensor:
    """Parse one IDX file (plain, or gzip-compressed when the name ends in ``.gz``).

    Layout: two zero bytes, a type byte, the number of dimensions ``d``, then ``d`` big-endian
    uint32 sizes, then the elements in row-major order.

    Returns:
        A tensor of the stored shape; uint8 data stays uint8, other types become native-endian.

    Raises:
        GanforgeError: naming the file, when it cannot be read, is not IDX, or is truncated.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        # gzip raises EOFError for a cut-off stream and BadGzipFile (an OSError) for junk.
        raise GanforgeError(f"cannot read IDX file {path}: {err}") from None

    def bad(reason: str) -> GanforgeError:
        return GanforgeError(f"{path} is not a valid IDX file: {reason}")

    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise bad("bad magic number (expected 00 00 <type> <ndim>)")
    dtype = _IDX_DTYPES.get(raw[2])
    if dtype is None:
        raise bad(f"unknown element type 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise bad(f"header declares {ndim} dimensions but the file is {len(raw)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) < expected:
        raise bad(f"truncated: {len(raw)} bytes, shape {dims} needs {expected}")
    if len(raw) > expected:
        raise bad(f"{len(raw) - expected} unexpected bytes after shape {dims}")
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    # frombuffer views the immutable bytes; the copy makes a writable, native-endian array.
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def _find(root: Path, name: str) -> Path:
    """``root/name.gz`` or ``root/name``, else a GanforgeError saying how to install the data."""
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    raise GanforgeError(f"Fashion-MNIST not found in {root} (looked for {name}.gz or {name}); {INSTALL_HINT}")


def load_fashion_mnist(split: str = "train", root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one split of Fashion-MNIST.

    Args:
        split: ``"train"`` (60,000 examples) or ``"test"`` (10,000).
        root: folder holding the IDX files; default :func:`fashion_dir`.

    Returns:
        ``(images, labels)``: uint8 ``(N, 28, 28)`` and int64 ``(N,)`` with values in 0..9
        indexing :data:`FASHION_CLASSES`.
    """
    if split not in _SPLIT_PREFIX:
        raise GanforgeError(f"unknown Fashion-MNIST split '{split}'; accepted: {', '.join(_SPLIT_PREFIX)}")
    root = fashion_dir() if root is None else Path(root).expanduser()
    prefix = _SPLIT_PREFIX[split]
    image_file = _find(root, f"{prefix}-images-idx3-ubyte")
    label_file = _find(root, f"{prefix}-labels-idx1-ubyte")
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dtype != torch.uint8 or images.dim() != 3:
        raise GanforgeError(f"{image_file} holds {images.dtype} {tuple(images.shape)}, expected uint8 (N, H, W)")
    if labels.dtype != torch.uint8 or labels.dim() != 1 or len(labels) != len(images):
        raise GanforgeError(
            f"{label_file} holds {labels.dtype} {tuple(labels.shape)}, expected uint8 ({len(images)},)"
        )
    if len(labels) and int(labels.max()) >= len(FASHION_CLASSES):
        raise GanforgeError(f"{label_file} has label {int(labels.max())}; Fashion-MNIST labels are 0..9")
    return images, labels.long()


@register_dataset("fashion-mnist", splits=("train", "test"), features="fashion-cnn", oracle="fashion-cnn",
                  modes="classes", perceptual=True)
def build_fashion_mnist(cfg: "DataConfig") -> Dataset:
    """Fashion-MNIST as uint8 ``(N, channels, resolution, resolution)`` with its 10 labels.

    ``data.path``, when given, is the folder holding the IDX files. Only the first
    ``data.limit`` examples are resized; grey is repeated for ``channels=3``.
    """
    images, labels = load_fashion_mnist(cfg.split, root=cfg.path)
    if cfg.limit is not None:
        images, labels = images[: cfg.limit], labels[: cfg.limit]
    # Resize before repeating channels: the repeat is free, the interpolation is not.
    data = resize_uint8(images.unsqueeze(1), cfg.resolution)
    if cfg.channels == 3:
        data = data.expand(-1, 3, -1, -1)
    return Dataset(
        name="fashion-mnist",
        data=data.contiguous(),
        labels=labels.contiguous(),
        class_names=list(FASHION_CLASSES),
    )
