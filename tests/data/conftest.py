"""Image fixtures shared by the image-reading tests: small real files and crafted bad ones."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image


def _noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    """Random pixels: JPEG cannot compress them away, so cutting the file cuts scan data."""
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if channels == 1 else pixels, mode=mode)


@pytest.fixture
def save_image() -> Callable[..., Path]:
    """``save_image(path, size=(W, H), mode="RGB", format=None, seed=0) -> path``."""

    def save(path: Path, size: tuple[int, int] = (24, 16), mode: str = "RGB", format: str | None = None, seed: int = 0):
        path.parent.mkdir(parents=True, exist_ok=True)
        _noise(size, mode, seed).save(path, format=format)
        return path

    return save


@pytest.fixture
def truncated_jpeg(save_image) -> Callable[[Path], Path]:
    """``truncated_jpeg(path)``: the first half of a valid 64 x 64 JPEG."""

    def make(path: Path) -> Path:
        save_image(path, size=(64, 64), format="JPEG")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    return make


@pytest.fixture
def bomb_png() -> Callable[[Path, int, int], Path]:
    """``bomb_png(path, width, height)``: a 1 x 1 PNG whose header claims ``width x height``.

    Only the IHDR chunk is rewritten (with a valid CRC), so the header parses and declares a
    huge image while the file stays tiny: a decompression bomb as a reader first sees it.
    """

    def make(path: Path, width: int, height: int) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("L", (1, 1)).save(path, format="PNG")
        data = bytearray(path.read_bytes())
        # Signature (8 bytes), then IHDR: length (4), type (4), width, height, 5 more bytes, CRC.
        assert data[12:16] == b"IHDR"
        data[16:24] = struct.pack(">II", width, height)
        data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
        path.write_bytes(bytes(data))
        return path

    return make


@pytest.fixture
def not_an_image() -> Callable[[Path], Path]:
    """``not_an_image(path)``: text bytes under an image name."""

    def make(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"this is a shopping list, not a picture\n" * 20)
        return path

    return make
