"""Paired data sets: shapes-edges (synthetic) and paired-folder (A/ and B/ image folders)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import DATASETS, PairedDataset, build_dataset
from ganforge.errors import GanforgeError

RES = 16


def load(dataset: str, **kwargs) -> PairedDataset:
    return build_dataset(DataConfig(**{"dataset": dataset, "resolution": RES, **kwargs}))


def load_quietly(dataset: str, **kwargs) -> tuple[PairedDataset, list[str]]:
    """Load and return ``(dataset, warning messages)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load(dataset, **kwargs)
    return ds, [str(w.message) for w in caught]


def luma(rgb: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) -> (N, 1, H, W) through Pillow's own RGB -> L conversion."""
    grey = [np.asarray(Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).convert("L")) for img in rgb]
    return np.stack(grey)[:, None]


def test_both_are_registered_as_pair_data_with_two_splits():
    for name in ("paired-folder", "shapes-edges"):
        spec = DATASETS.get(name)
        assert spec.batch == "pairs" and spec.splits == ("train", "test")


# --- shapes-edges ---------------------------------------------------------------------------


def test_shapes_edges_sizes_types_and_names():
    train, test = load("shapes-edges", channels=3), load("shapes-edges", channels=3, split="test")
    assert (len(train), len(test)) == (2_000, 500)
    for ds, split in ((train, "train"), (test, "test")):
        assert isinstance(ds, PairedDataset)
        assert ds.source.shape == (len(ds), 1, RES, RES) and ds.target.shape == (len(ds), 3, RES, RES)
        assert ds.source.dtype == torch.uint8 and ds.target.dtype == torch.uint8
        assert ds.source.is_contiguous() and ds.target.is_contiguous()
        assert len(ds.names) == len(ds) == len(set(ds.names)) and ds.names[0].startswith(split)
        assert ds.skipped == []
        assert set(ds.source.unique().tolist()) == {0, 255}  # white edges on black


def test_shapes_edges_is_deterministic_and_limit_keeps_a_prefix():
    full = load("shapes-edges", channels=3, split="test")
    again = load("shapes-edges", channels=3, split="test")
    assert torch.equal(full.source, again.source) and torch.equal(full.target, again.target)
    part = load("shapes-edges", channels=3, split="test", limit=7)
    assert len(part) == 7 and part.names == full.names[:7]
    assert torch.equal(part.source, full.source[:7]) and torch.equal(part.target, full.target[:7])


def test_shapes_edges_splits_share_no_image():
    train = load("shapes-edges", channels=3, limit=500)
    test = load("shapes-edges", channels=3, split="test")
    seen = {img.numpy().tobytes() for img in train.target}
    assert not any(img.numpy().tobytes() in seen for img in test.target)
    assert len({img.numpy().tobytes() for img in test.target}) == len(test)  # and no repeats within a split


def test_shapes_edges_draws_one_to_three_shapes_on_a_light_background():
    ds = load("shapes-edges", channels=3, limit=200, resolution=32)
    counts = []
    for img in ds.target.numpy():
        colours = np.unique(img.reshape(3, -1), axis=1)  # (3, K)
        light = (colours >= 200).all(axis=0)
        assert light.sum() == 1  # one light background, and shapes darker than it
        counts.append(colours.shape[1] - 1)
    assert min(counts) >= 1 and max(counts) == 3 and set(counts) == {1, 2, 3}


def test_shapes_edges_source_is_the_outline_of_the_target():
    """Every edge pixel borders a different colour, and every colour change has an edge pixel."""
    ds = load("shapes-edges", channels=3, limit=50, resolution=32)
    edges = ds.source[:, 0] == 255  # (N, R, R)
    colour = ds.target.long()
    code = colour[:, 0] * 65536 + colour[:, 1] * 256 + colour[:, 2]  # (N, R, R): one number per colour
    assert edges.any(dim=(1, 2)).all()
    differs_below = code[:, 1:, :] != code[:, :-1, :]
    differs_right = code[:, :, 1:] != code[:, :, :-1]
    # A colour change between two neighbours is marked on at least one side of it.
    assert (edges[:, 1:, :] | edges[:, :-1, :])[differs_below].all()
    assert (edges[:, :, 1:] | edges[:, :, :-1])[differs_right].all()
    # An edge pixel has a neighbour of another colour.
    border = torch.zeros_like(edges)
    border[:, 1:, :] |= differs_below
    border[:, :-1, :] |= differs_below
    border[:, :, 1:] |= differs_right
    border[:, :, :-1] |= differs_right
    assert border[edges].all()
    assert edges.float().mean() < 0.25  # outlines, not filled shapes


def test_shapes_edges_channels():
    rgb = load("shapes-edges", channels=3, limit=20)
    grey = load("shapes-edges", channels=1, limit=20)
    assert grey.target.shape == (20, 1, RES, RES)
    np.testing.assert_array_equal(grey.target.numpy(), luma(rgb.target.numpy()))
    assert torch.equal(grey.source, rgb.source)
    three = load("shapes-edges", channels=3, limit=20, source_channels=3)
    assert three.source.shape == (20, 3, RES, RES)
    assert torch.equal(three.source, rgb.source.expand(-1, 3, -1, -1))


# --- paired-folder --------------------------------------------------------------------------


def noise(seed: int, mode: str = "RGB", size: tuple[int, int] = (RES, RES)) -> np.ndarray:
    """Random pixels (H, W[, 3]); at RES x RES, loading keeps them exactly (no crop, no resize)."""
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def save(path, pixels: np.ndarray, format: str | None = None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=format)
    return path


def chw(pixels: np.ndarray) -> np.ndarray:
    return pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)


def make_pairs(root, names, seed: int = 0, source_mode: str = "RGB") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``root/A/<name>.png`` and ``root/B/<name>.bmp`` for each name; returns their pixels."""
    pixels = {}
    for i, name in enumerate(names):
        a, b = noise(seed + 2 * i, source_mode), noise(seed + 2 * i + 1)
        save(root / "A" / f"{name}.png", a)
        save(root / "B" / f"{name}.bmp", b)  # another extension: pairs match by name
        pixels[name] = (a, b)
    return pixels


def test_folder_pairs_match_by_name(tmp_path):
    pixels = make_pairs(tmp_path, ["c", "a", "b"])
    ds, messages = load_quietly("paired-folder", path=str(tmp_path), channels=3)
    assert ds.names == ["a", "b", "c"] and ds.skipped == [] and messages == []
    assert ds.source.shape == ds.target.shape == (3, 3, RES, RES)
    assert ds.source.dtype == ds.target.dtype == torch.uint8
    assert ds.source.is_contiguous() and ds.target.is_contiguous()
    for i, name in enumerate(ds.names):
        np.testing.assert_array_equal(ds.source[i].numpy(), chw(pixels[name][0]))
        np.testing.assert_array_equal(ds.target[i].numpy(), chw(pixels[name][1]))


def test_folder_images_are_centre_cropped_and_resized(tmp_path):
    # 2R x 4R images whose centre square is white and whose sides are black: the crop keeps only white.
    wide = np.zeros((2 * RES, 4 * RES), dtype=np.uint8)
    wide[:, RES : 3 * RES] = 255
    save(tmp_path / "A" / "x.png", wide)
    save(tmp_path / "B" / "x.png", np.full((RES, 2 * RES), 100, dtype=np.uint8))
    ds, messages = load_quietly("paired-folder", path=str(tmp_path), channels=1)
    assert ds.source.shape == ds.target.shape == (1, 1, RES, RES)
    assert (ds.source == 255).all() and (ds.target == 100).all()
    assert messages == []  # same aspect ratio: the crops line up


def test_folder_unmatched_names_are_skipped_and_recorded(tmp_path):
    make_pairs(tmp_path, ["a", "b"])
    save(tmp_path / "A" / "only-a.png", noise(10))
    save(tmp_path / "B" / "only-b.png", noise(11))
    save(tmp_path / "B" / "sub" / "a.png", noise(12))  # pairs by path: sub/a has no A/sub/a
    ds, messages = load_quietly("paired-folder", path=str(tmp_path), channels=3)
    assert ds.names == ["a", "b"]
    reasons = {path.split(str(tmp_path))[-1]: reason for path, reason in ds.skipped}
    assert reasons == {
        "/A/only-a.png": "no image of the same name in B/",
        "/B/only-b.png": "no image of the same name in A/",
        "/B/sub/a.png": "no image of the same name in A/",
    }
    assert any("skipping 1 images" in m and "only-a.png" in m for m in messages)
    assert any("skipping 2 images" in m and "only-b.png" in m for m in messages)


def test_folder_bad_file_drops_its_pair(tmp_path, not_an_image, truncated_jpeg):
    make_pairs(tmp_path, ["a", "b", "c"])
    not_an_image(tmp_path / "A" / "b.png")  # overwrites a good source
    (tmp_path / "B" / "c.bmp").unlink()
    truncated_jpeg(tmp_path / "B" / "c.jpg")
    ds, messages = load_quietly("paired-folder", path=str(tmp_path), channels=3)
    assert ds.names == ["a"] and len(ds) == 1
    reasons = dict(ds.skipped)
    assert reasons[str(tmp_path / "A" / "b.png")].startswith("not an image")
    assert reasons[str(tmp_path / "B" / "b.bmp")] == "its pair b.png is unusable"
    assert reasons[str(tmp_path / "B" / "c.jpg")] == "truncated"
    assert reasons[str(tmp_path / "A" / "c.png")] == "its pair c.jpg is unusable"
    assert len(reasons) == 4
    assert f"skipping {tmp_path / 'B' / 'c.jpg'}: truncated" in messages


def test_folder_duplicate_names_keep_one(tmp_path):
    pixels = make_pairs(tmp_path, ["a"])
    save(tmp_path / "A" / "a.tif", noise(99))
    ds, messages = load_quietly("paired-folder", path=str(tmp_path), channels=3)
    assert ds.names == ["a"]
    np.testing.assert_array_equal(ds.source[0].numpy(), chw(pixels["a"][0]))  # a.png sorts first
    assert ds.skipped == [(str(tmp_path / "A" / "a.tif"), "same name as a.png")]
    assert any("same name as a.png" in m for m in messages)


def test_folder_different_aspect_ratios_warn(tmp_path):
    save(tmp_path / "A" / "x.png", noise(1, size=(RES, RES)))
    save(tmp_path / "B" / "x.png", noise(2, size=(2 * RES, RES)))
    ds, messages = load_quietly("paired-folder", path=str(tmp_path), channels=3)
    assert len(ds) == 1
    assert any("different aspect ratios" in m for m in messages)


def test_folder_split_subfolders(tmp_path):
    make_pairs(tmp_path / "train", ["a", "b", "c"])
    make_pairs(tmp_path / "test", ["z"], seed=50)
    assert load("paired-folder", path=str(tmp_path), channels=3).names == ["a", "b", "c"]
    assert load("paired-folder", path=str(tmp_path), channels=3, split="test").names == ["z"]
    assert load("paired-folder", path=str(tmp_path), channels=3, limit=2).names == ["a", "b"]


def test_folder_grey_and_colour_channels(tmp_path):
    pixels = make_pairs(tmp_path, ["a", "b"], source_mode="L")  # grey sources, colour targets
    grey_source = np.stack([chw(pixels[n][0]) for n in ("a", "b")])
    colour_target = np.stack([chw(pixels[n][1]) for n in ("a", "b")])

    mixed = load("paired-folder", path=str(tmp_path), channels=3, source_channels=1)
    assert mixed.source.shape == (2, 1, RES, RES) and mixed.target.shape == (2, 3, RES, RES)
    np.testing.assert_array_equal(mixed.source.numpy(), grey_source)
    np.testing.assert_array_equal(mixed.target.numpy(), colour_target)

    grey = load("paired-folder", path=str(tmp_path), channels=1)  # source_channels unset: same as channels
    assert grey.source.shape == grey.target.shape == (2, 1, RES, RES)
    np.testing.assert_array_equal(grey.target.numpy(), luma(colour_target))

    colour = load("paired-folder", path=str(tmp_path), channels=3)
    assert colour.source.shape == (2, 3, RES, RES)
    np.testing.assert_array_equal(colour.source.numpy(), np.repeat(grey_source, 3, axis=1))


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("no-B", "has no B/ subfolder"),
        ("no-A-no-B", "has no A/ or B/ subfolder"),
        ("no-matches", "needs A/ and B/ subfolders with images of matching names; found 1 images in A/, 1 in B/"),
        ("all-bad", "1 pairs unusable"),
        ("missing", "does not exist"),
        ("no-path", "needs data.path=DIR"),
    ],
)
def test_folder_errors_are_one_line(tmp_path, layout, expected, not_an_image):
    if layout == "no-B":
        save(tmp_path / "A" / "a.png", noise(0))
    elif layout == "no-A-no-B":
        save(tmp_path / "a.png", noise(0))
    elif layout == "no-matches":
        save(tmp_path / "A" / "a.png", noise(0))
        save(tmp_path / "B" / "b.png", noise(1))
    elif layout == "all-bad":
        save(tmp_path / "A" / "a.png", noise(0))
        not_an_image(tmp_path / "B" / "a.png")
    path = None if layout == "no-path" else str(tmp_path / "nowhere" if layout == "missing" else tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(GanforgeError) as info:
            load("paired-folder", path=path, channels=3)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
