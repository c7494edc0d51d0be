"""Photo data sets: seeded crops of a folder, bad and small files, the photos split, missing packages."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import DATASETS, build_dataset
from ganforge.data import photos
from ganforge.errors import GanforgeError

from .test_rcc import write_rcc


def load(path, **kwargs):
    cfg = {"dataset": "photo-folder", "path": str(path), "resolution": 16, "channels": 3, "crops_per_image": 4, **kwargs}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = build_dataset(DataConfig(**cfg))
    return dataset, [str(w.message) for w in caught]


@pytest.fixture
def folder(tmp_path, save_image):
    save_image(tmp_path / "a.png", size=(40, 30), seed=1)
    save_image(tmp_path / "nested" / "b.jpg", size=(32, 48), seed=2)
    save_image(tmp_path / ".hidden" / "c.png", size=(40, 40), seed=3)  # ignored
    return tmp_path


def windows(image: np.ndarray, side: int) -> set[bytes]:
    """Every side x side window of an (H, W, C) array and its mirror image, as bytes."""
    found = set()
    for top in range(image.shape[0] - side + 1):
        for left in range(image.shape[1] - side + 1):
            crop = image[top : top + side, left : left + side]
            found |= {crop.transpose(2, 0, 1).tobytes(), crop[:, ::-1].transpose(2, 0, 1).tobytes()}
    return found


def test_crops_shape_and_content(folder):
    ds, messages = load(folder)
    assert ds.data.shape == (8, 3, 16, 16) and ds.data.dtype == torch.uint8
    assert ds.labels is None and ds.skipped == [] and messages == []
    # Sorted file order: a.png's 4 crops, then nested/b.jpg's; each is a real window of the photo.
    a = np.asarray(Image.open(folder / "a.png").convert("RGB"))
    assert all(crop.numpy().tobytes() in windows(a, 16) for crop in ds.data[:4])
    assert len({crop.numpy().tobytes() for crop in ds.data}) == 8  # different positions or flips


def test_crops_are_the_same_every_build(folder):
    first, _ = load(folder)
    second, _ = load(folder)
    assert torch.equal(first.data, second.data)


def test_flips_happen():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    crops = photos.random_crops(image, name="x", count=32, side=16, channels=3)  # one position: only flips differ
    flipped = [not np.array_equal(c, np.asarray(image).transpose(2, 0, 1)) for c in crops]
    assert 4 < sum(flipped) < 28


def test_grey_channels(folder):
    ds, _ = load(folder, channels=1)
    assert ds.data.shape == (8, 1, 16, 16)
    a = np.asarray(Image.open(folder / "a.png").convert("L"))[:, :, None]
    assert all(crop.numpy().tobytes() in windows(a, 16) for crop in ds.data[:4])


def test_bad_file_skipped_with_a_warning(folder, truncated_jpeg):
    truncated_jpeg(folder / "broken.jpg")
    ds, messages = load(folder)
    assert len(ds) == 8
    assert ds.skipped == [("broken.jpg", "truncated")]
    assert any("skipping broken.jpg: truncated" in m for m in messages)


def test_small_photos_are_upscaled_to_the_crop(tmp_path, save_image):
    save_image(tmp_path / "tiny.png", size=(8, 4), seed=5)
    ds, messages = load(tmp_path, resolution=16)
    assert ds.data.shape == (4, 3, 16, 16) and ds.skipped == [] and messages == []
    crop = photos.random_crops(Image.new("RGB", (6, 3), (200, 10, 50)), name="t", count=2, side=16, channels=3)
    assert crop.shape == (2, 3, 16, 16) and (crop[:, 0] == 200).all()


def test_folder_errors(tmp_path):
    with pytest.raises(GanforgeError, match="needs data.path"):
        build_dataset(DataConfig(dataset="photo-folder"))
    with pytest.raises(GanforgeError, match="has no image files"):
        load(tmp_path)
    (tmp_path / "x.jpg").write_bytes(b"not a picture")
    with pytest.raises(GanforgeError, match="no usable photos"):
        load(tmp_path)


def png_bytes(seed: int, size=(300, 220)) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def fake_packages(tmp_path, monkeypatch, save_image):
    """Tiny stand-ins for the three packages' folders."""
    land, rcc, cv = tmp_path / "land", tmp_path / "rcc", tmp_path / "cv"
    for i in range(30):
        save_image(land / f"canyon{i}.jpg", size=(40, 24), seed=i)
    for name in ("beach2", "desert0"):  # names whose hash puts them in the test split
        save_image(land / f"{name}.jpg", size=(40, 24), seed=50)
    save_image(land / "earthrise.jpg", seed=99)  # excluded by name
    rcc.mkdir()
    write_rcc(
        rcc / "erase.rcc",
        {"res/gorilla.webp": png_bytes(1), "res/icon.png": png_bytes(2, (64, 64)), "res/readme": b"text"},
        compressed={"res/gorilla.webp"},
    )
    write_rcc(rcc / "lang.rcc", {"res/drawing.webp": png_bytes(3)})  # not a photo bundle
    save_image(cv / "baboon.jpg", size=(32, 32), seed=7)
    save_image(cv / "chessboard.png", size=(32, 32), seed=8)  # not in the allow-list
    for name, path in (("ENDLESS_SKY_LAND", land), ("GCOMPRIS_RCC", rcc), ("OPENCV_DATA", cv)):
        monkeypatch.setattr(photos, name, path)
    return tmp_path


def test_training_photos_follow_the_rules(fake_packages):
    names = [source.name for source in photos.training_photos()]
    assert "endless-sky/earthrise.jpg" not in names and "opencv/chessboard.png" not in names
    assert "gcompris-qt/erase/gorilla.webp" in names  # the small icon, the readme and lang are not
    assert not any("icon" in n or "readme" in n or "drawing" in n for n in names)
    assert "opencv/baboon.jpg" in names and len(names) == 34
    gorilla = next(s for s in photos.training_photos() if s.name.endswith("gorilla.webp"))
    assert gorilla.open().size == (300, 220)


# Held out by the hash of package and stem (canyon12 and baboon happen to fall there too).
EXPECTED_TEST_NAMES = ["endless-sky/beach2.jpg", "endless-sky/canyon12.jpg", "endless-sky/desert0.jpg", "opencv/baboon.jpg"]


def test_copies_of_a_photo_in_two_bundles_share_a_split():
    """gcompris ships some photos in two bundles; a copy in train and one in test would leak."""
    for stem in ("tajMahal", "christTheRedeemer", "colosseum", "windmill", "IndiaGate"):
        sides = {photos.is_test_photo(f"gcompris-qt/{bundle}/{stem}.webp")
                 for bundle in ("categorization", "explore_monuments")}
        assert len(sides) == 1, stem
    assert photos.is_test_photo("gcompris-qt/categorization/IndiaGate.webp")  # a held-out one, both copies


def test_photos_splits_are_disjoint_and_cover_everything(fake_packages):
    names = [source.name for source in photos.training_photos()]
    test_names = [n for n in names if photos.is_test_photo(n)]
    assert test_names == EXPECTED_TEST_NAMES
    cfg = {"dataset": "photos", "resolution": 16, "channels": 3, "crops_per_image": 2}
    train = build_dataset(DataConfig(**cfg, split="train"))
    test = build_dataset(DataConfig(**cfg, split="test"))
    assert len(train) == 2 * (len(names) - len(test_names)) and len(test) == 2 * len(test_names)
    assert not {c.numpy().tobytes() for c in train.data} & {c.numpy().tobytes() for c in test.data}
    assert DATASETS.get("photos").splits == ("train", "test")


def test_missing_packages_named_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(photos, "ENDLESS_SKY_LAND", tmp_path / "nowhere")
    monkeypatch.setattr(photos, "OPENCV_DATA", tmp_path / "nowhere-either")
    monkeypatch.setattr(photos, "GCOMPRIS_RCC", tmp_path)
    with pytest.raises(GanforgeError) as caught:
        build_dataset(DataConfig(dataset="photos"))
    message = str(caught.value)
    assert "needs the Debian packages endless-sky-data, opencv-doc: apt-get install endless-sky-data opencv-doc" in message
    assert "gcompris" not in message and "\n" not in message
    monkeypatch.setattr(photos, "PLASMA_WALLPAPERS", tmp_path / "gone")
    monkeypatch.setattr(photos, "MATE_BACKGROUNDS", tmp_path)
    with pytest.raises(GanforgeError, match="apt-get install plasma-workspace-wallpapers"):
        photos.evaluation_photos()


def test_open_image_bytes_refuses_bad_data():
    with pytest.raises(photos.BadImageError, match="not an image"):
        photos.open_image_bytes("x", b"hello")
    with pytest.raises(photos.BadImageError, match="too large"):
        photos.open_image_bytes("x", png_bytes(0, (50, 50)), max_pixels=100)
    with pytest.raises(photos.BadImageError, match="empty"):
        photos.open_image_bytes("x", b"")
