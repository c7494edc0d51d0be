"""dataset=folder: layouts, labels, conversion, and bad files skipped one by one."""

from __future__ import annotations

import warnings

import pytest
import torch

from ganforge.config import DataConfig
from ganforge.data import build_dataset
from ganforge.errors import GanforgeError


def load(path, **kwargs):
    return build_dataset(DataConfig(**{"dataset": "folder", "path": str(path), "resolution": 16, **kwargs}))


def load_quietly(path, **kwargs):
    """Load and return ``(dataset, warning messages)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        dataset = load(path, **kwargs)
    return dataset, [str(w.message) for w in caught]


def test_class_subfolders_give_labels_and_names(tmp_path, save_image):
    save_image(tmp_path / "dogs" / "d1.png", seed=1)
    save_image(tmp_path / "dogs" / "nested" / "d2.JPG", seed=2)  # nested and upper-case: still dogs
    save_image(tmp_path / "cats" / "c1.bmp", seed=3)
    save_image(tmp_path / "empty-class-folder" / ".hidden.png", seed=4)  # hidden: not an image file
    (tmp_path / "cats" / "notes.txt").write_text("not an image, ignored without a warning")
    ds, messages = load_quietly(tmp_path)
    assert ds.class_names == ["cats", "dogs"]
    assert ds.labels.tolist() == [0, 1, 1]
    assert ds.labels.dtype == torch.int64
    assert ds.data.shape == (3, 1, 16, 16) and ds.data.dtype == torch.uint8
    assert ds.skipped == [] and messages == []


def test_top_level_images_ignored_when_classes_exist(tmp_path, save_image):
    save_image(tmp_path / "a" / "x.png")
    save_image(tmp_path / "stray.png")
    ds, messages = load_quietly(tmp_path)
    assert len(ds) == 1 and ds.class_names == ["a"]
    assert any("ignoring 1 image files directly in" in m for m in messages)


def test_flat_folder_is_unlabelled(tmp_path, save_image):
    for i in range(3):
        save_image(tmp_path / f"{i}.png", seed=i)
    (tmp_path / "readme.txt").write_text("ignored")
    ds = load(tmp_path)
    assert len(ds) == 3 and ds.labels is None and ds.class_names is None
    assert ds.kind == "image"


def test_bad_files_are_skipped_one_by_one(tmp_path, save_image, truncated_jpeg, bomb_png, not_an_image):
    good = [save_image(tmp_path / f"good{i}.png", seed=i) for i in range(3)]
    bad = {
        "corrupt.png": not_an_image(tmp_path / "corrupt.png"),
        "cut.jpg": truncated_jpeg(tmp_path / "cut.jpg"),
        "empty.png": tmp_path / "empty.png",
        "bomb.png": bomb_png(tmp_path / "bomb.png", 9_000, 9_000),
        "icon.png": save_image(tmp_path / "icon.png", size=(16, 16), format="ICO"),
    }
    bad["empty.png"].touch()
    ds, messages = load_quietly(tmp_path)
    assert len(ds) == len(good)
    reasons = {path.rsplit("/", 1)[-1]: reason for path, reason in ds.skipped}
    assert set(reasons) == set(bad)
    assert reasons["corrupt.png"].startswith("not an image")
    assert reasons["cut.jpg"] == "truncated"
    assert reasons["empty.png"] == "empty file"
    assert reasons["bomb.png"].startswith("too large")
    assert reasons["icon.png"].startswith("format ICO not allowed")
    assert sorted(m for m in messages if m.startswith("skipping")) == sorted(
        f"skipping {tmp_path / name}: {reason}" for name, reason in reasons.items()
    )


def test_good_images_keep_their_labels_when_others_are_skipped(tmp_path, save_image, not_an_image):
    save_image(tmp_path / "a" / "1.png")
    not_an_image(tmp_path / "b" / "0.png")
    save_image(tmp_path / "b" / "1.png")
    ds, _ = load_quietly(tmp_path)
    assert ds.labels.tolist() == [0, 1] and len(ds.skipped) == 1


def test_class_with_no_usable_images_warns(tmp_path, save_image, not_an_image):
    save_image(tmp_path / "a" / "1.png")
    not_an_image(tmp_path / "b" / "0.png")
    ds, messages = load_quietly(tmp_path)
    assert ds.class_names == ["a", "b"] and ds.labels.tolist() == [0]
    assert any("class folders with no usable images: b" in m for m in messages)


def test_only_bad_files_is_an_error(tmp_path, not_an_image):
    not_an_image(tmp_path / "a.png")
    not_an_image(tmp_path / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = r"no usable images in .* \(2 files skipped; first: a.png: not an image"
        with pytest.raises(GanforgeError, match=expected):
            load(tmp_path)


def test_empty_folder_and_folder_without_images(tmp_path):
    with pytest.raises(GanforgeError, match="is empty"):
        load(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    with pytest.raises(GanforgeError, match=r"has no image files \(accepted extensions: .bmp .gif"):
        load(tmp_path)


def test_path_required_and_must_be_a_folder(tmp_path):
    with pytest.raises(GanforgeError, match="dataset=folder needs data.path=DIR"):
        build_dataset(DataConfig(dataset="folder"))
    with pytest.raises(GanforgeError, match="does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(GanforgeError, match="is not a folder"):
        load(tmp_path / "file.png")


def test_resolution_and_channels(tmp_path, save_image):
    save_image(tmp_path / "grey.png", size=(30, 20), mode="L")
    save_image(tmp_path / "rgb.png", size=(20, 30), mode="RGB")
    rgb = load(tmp_path, channels=3, resolution=8)
    assert rgb.data.shape == (2, 3, 8, 8)
    grey_as_rgb = rgb.data[0]
    assert torch.equal(grey_as_rgb[0], grey_as_rgb[1]) and torch.equal(grey_as_rgb[0], grey_as_rgb[2])
    assert not torch.equal(rgb.data[1][0], rgb.data[1][1])
    assert load(tmp_path, channels=1, resolution=12).data.shape == (2, 1, 12, 12)


def test_limit_applies(tmp_path, save_image):
    for i in range(4):
        save_image(tmp_path / f"{i}.png", seed=i)
    assert len(load(tmp_path, limit=2)) == 2
