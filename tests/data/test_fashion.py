"""Fashion-MNIST: IDX parsing, the real files, missing and damaged files, resize_uint8."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import FASHION_CLASSES, build_dataset
from ganforge.data.fashion import fashion_dir, load_fashion_mnist, read_idx
from ganforge.data.transforms import resize_uint8
from ganforge.errors import GanforgeError

needs_fashion = pytest.mark.skipif(
    not (fashion_dir() / "train-images-idx3-ubyte.gz").is_file(),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array in IDX: 00 00 08 <ndim>, big-endian dims, then the elements."""
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_fake_fashion(root: Path, n: int = 5, compress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A tiny Fashion-MNIST lookalike (both splits) in ``root``; returns the train split."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    root.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
            data = idx_bytes(array)
            name = f"{prefix}-{kind}-ubyte"
            if compress:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return images, labels


@needs_fashion
def test_real_splits_shapes_and_labels():
    for split, n in (("train", 60_000), ("test", 10_000)):
        images, labels = load_fashion_mnist(split)
        assert images.shape == (n, 28, 28) and images.dtype == torch.uint8
        assert labels.shape == (n,) and labels.dtype == torch.int64
        # The data set is balanced: every class has exactly n / 10 examples.
        assert torch.bincount(labels).tolist() == [n // 10] * 10
    assert len(FASHION_CLASSES) == 10


@needs_fashion
def test_real_dataset_resized_and_grey_repeated():
    ds = build_dataset(DataConfig(dataset="fashion-mnist", split="test", resolution=32, channels=1, limit=256))
    assert ds.data.shape == (256, 1, 32, 32) and ds.data.dtype == torch.uint8
    assert ds.class_names == list(FASHION_CLASSES) and ds.labels.shape == (256,)
    rgb = build_dataset(DataConfig(dataset="fashion-mnist", split="test", resolution=32, channels=3, limit=256))
    assert rgb.data.shape == (256, 3, 32, 32) and rgb.data.is_contiguous()
    for c in range(3):
        assert torch.equal(rgb.data[:, c], ds.data[:, 0])
    native = build_dataset(DataConfig(dataset="fashion-mnist", split="test", resolution=28, limit=256))
    raw, _ = load_fashion_mnist("test")
    assert torch.equal(native.data[:, 0], raw[:256])


@pytest.mark.parametrize("compress", [False, True])
def test_fake_files_through_env_and_path(tmp_path, monkeypatch, compress):
    images, labels = write_fake_fashion(tmp_path / "fm", compress=compress)
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "fm"))
    loaded, loaded_labels = load_fashion_mnist("test")
    assert np.array_equal(loaded.numpy(), images) and loaded_labels.tolist() == labels.tolist()
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "elsewhere"))
    ds = build_dataset(DataConfig(dataset="fashion-mnist", path=str(tmp_path / "fm"), resolution=28))
    assert np.array_equal(ds.data[:, 0].numpy(), images)


def test_missing_files_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path))
    with pytest.raises(GanforgeError) as info:
        build_dataset(DataConfig(dataset="fashion-mnist"))
    message = str(info.value)
    assert f"Fashion-MNIST not found in {tmp_path}" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert "apt-get install dataset-fashion-mnist" in message and "GANFORGE_DATA_DIR" in message


def test_missing_label_file_named(tmp_path):
    write_fake_fashion(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(GanforgeError, match="looked for t10k-labels-idx1-ubyte.gz"):
        load_fashion_mnist("test", root=tmp_path)


def test_read_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a-idx3-ubyte").write_bytes(idx_bytes(array))
    assert read_idx(tmp_path / "a-idx3-ubyte").tolist() == array.tolist()
    # A big-endian int32 file comes back native-endian.
    ints = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "b").write_bytes(struct.pack(">BBBBI", 0, 0, 0x0C, 1, 3) + ints.tobytes())
    assert read_idx(tmp_path / "b").tolist() == [1, -2, 70000]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-100], "truncated"),
        (idx_bytes(np.zeros((3, 28, 28), np.uint8)) + b"\0", "1 unexpected bytes"),
        (b"\x01\x02\x08\x03" + bytes(100), "bad magic number"),
        (b"\x00\x00\x42\x01" + bytes(8), "unknown element type 0x42"),
        (b"\x00\x00\x08\x03\x00", "header declares 3 dimensions"),
        (b"", "bad magic number"),
    ],
)
def test_malformed_idx_names_the_file(tmp_path, content, match):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(GanforgeError, match=match) as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("cut", ["half", "junk"])
def test_damaged_gzip_names_the_file(tmp_path, cut):
    data = gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) // 2] if cut == "half" else b"not gzip at all")
    with pytest.raises(GanforgeError, match=f"cannot read IDX file {path}"):
        read_idx(path)


def test_truncated_real_layout_through_loader(tmp_path):
    write_fake_fashion(tmp_path, compress=True)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-10]))
    with pytest.raises(GanforgeError, match="train-images-idx3-ubyte.gz is not a valid IDX file: truncated"):
        load_fashion_mnist("train", root=tmp_path)


def test_label_count_and_range_checked(tmp_path):
    write_fake_fashion(tmp_path, n=4)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(GanforgeError, match=r"expected uint8 \(4,\)"):
        load_fashion_mnist("train", root=tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([0, 1, 2, 10], np.uint8)))
    with pytest.raises(GanforgeError, match="label 10; Fashion-MNIST labels are 0..9"):
        load_fashion_mnist("train", root=tmp_path)


def test_resize_uint8_identity_and_constants():
    images = torch.randint(0, 256, (3, 2, 28, 28), dtype=torch.uint8)
    assert resize_uint8(images, 28) is images
    flat = torch.full((2, 1, 28, 28), 77, dtype=torch.uint8)
    for size in (8, 32, 64):
        assert torch.equal(resize_uint8(flat, size), torch.full((2, 1, size, size), 77, dtype=torch.uint8))
    with pytest.raises(ValueError):
        resize_uint8(images.float(), 32)


def test_resize_uint8_chunking_changes_nothing():
    images = torch.randint(0, 256, (10, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(resize_uint8(images, 32, chunk=3), resize_uint8(images, 32))


@pytest.mark.parametrize("size", [14, 20])
def test_resize_uint8_matches_pillow_bilinear_when_shrinking(size):
    # torch's antialiased bilinear is designed to match Pillow's BILINEAR; allow 1 grey level
    # for rounding differences.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    ours = resize_uint8(torch.from_numpy(image)[None, None], size)[0, 0].numpy().astype(int)
    pillow = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR)).astype(int)
    assert np.abs(ours - pillow).max() <= 1
