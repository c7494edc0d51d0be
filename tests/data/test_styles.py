"""Style data sets (photos | art, unpaired): which files count as art, splits, limits, missing packages.

Tiny stand-ins for the Debian packages' folders; the real packages (``make style-data``) are
used only by the last test, skipped without them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.config import DataConfig
from ganforge.data import DATASETS, build_dataset, photos, styles
from ganforge.errors import GanforgeError

from .test_photos import windows


@pytest.fixture
def fake_art(tmp_path, monkeypatch, save_image):
    """Wesnoth story folders, openclipart categories and training photos, all tiny."""
    wesnoth, clipart = tmp_path / "wesnoth", tmp_path / "openclipart"
    for k, (package, folder) in enumerate(styles.WESNOTH_STORY.items()):
        for i in range(6):
            save_image(wesnoth / folder / f"story{k}-{i}.jpg", size=(48, 36), seed=10 * k + i)
        save_image(wesnoth / folder / "portraits" / f"cutout{k}.png", size=(40, 40), seed=99)  # a subfolder: left out
    save_image(wesnoth / styles.WESNOTH_STORY["wesnoth-1.16-trow"] / "trow-logo.png", size=(40, 40), seed=98)
    for category in ("animals", "people", "computer", "shapes"):  # the last two are not drawings
        for i in range(5):
            save_image(clipart / category / "sub" / f"{category}{i}.png", size=(30, 40), mode="RGBA", seed=i)
    photo_sources = [photos.PhotoSource(f"endless-sky/p{i}.jpg", "endless-sky-data",
                                        path=save_image(tmp_path / "photos" / f"p{i}.jpg", size=(60, 40), seed=200 + i))
                     for i in range(20)]
    monkeypatch.setattr(styles, "WESNOTH_DATA", wesnoth)
    monkeypatch.setattr(styles, "OPENCLIPART_PNG", clipart)
    monkeypatch.setattr(photos, "training_photos", lambda: photo_sources)
    return tmp_path


def config(dataset: str, **kw) -> DataConfig:
    return DataConfig(**{"dataset": dataset, "resolution": 8, "channels": 3, "crops_per_image": 2, **kw})


def test_painting_sources_are_the_story_paintings(fake_art):
    names = [s.name for s in styles.painting_sources()]
    assert len(names) == 6 * len(styles.WESNOTH_STORY)  # no cut-outs from subfolders, no logo
    assert "wesnoth-1.16-data/story0-0.jpg" in names and not any("cutout" in n or "logo" in n for n in names)
    assert names == sorted(names)


def test_cartoon_sources_are_the_drawing_categories(fake_art):
    names = [s.name for s in styles.cartoon_sources()]
    assert len(names) == 10 and all(n.split("/")[1] in ("animals", "people") for n in names)


@pytest.mark.parametrize("dataset", ["style-painting", "style-cartoon"])
def test_style_splits_are_disjoint_and_art_is_held_out_by_name(fake_art, dataset):
    spec = DATASETS.get(dataset)
    assert spec.batch == "unpaired" and spec.splits == ("train", "test")
    sources = styles.STYLES[dataset].sources()
    held = [s for s in sources if photos.is_test_photo(s.name, styles.ART_TEST_PER_MILLE)]
    assert 0 < len(held) < len(sources)
    train, test = build_dataset(config(dataset)), build_dataset(config(dataset, split="test"))
    assert len(train.b) == 2 * (len(sources) - len(held)) and len(test.b) == 2 * len(held)
    assert train.a.shape[1:] == train.b.shape[1:] == (3, 8, 8) and train.a.dtype == torch.uint8
    assert not {c.numpy().tobytes() for c in train.b} & {c.numpy().tobytes() for c in test.b}
    assert not {c.numpy().tobytes() for c in train.a} & {c.numpy().tobytes() for c in test.a}


def test_limit_decodes_a_fixed_subset(fake_art):
    small = build_dataset(config("style-painting", limit=6))
    assert small.a.shape[0] == small.b.shape[0] == 6  # 3 images x 2 crops on each side
    again = build_dataset(config("style-painting", limit=6))
    assert torch.equal(small.a, again.a) and torch.equal(small.b, again.b)
    whole = build_dataset(config("style-painting"))
    whole_crops = {c.numpy().tobytes() for c in whole.b}
    assert all(c.numpy().tobytes() in whole_crops for c in small.b)  # the same crops of the same images


def test_large_images_are_downscaled_before_cropping(save_image, tmp_path):
    path = save_image(tmp_path / "big.png", size=(200, 100), seed=3)
    image = Image.open(path).convert("RGB")
    crops = photos.random_crops(image, name="big", count=6, side=8, channels=3, max_short_side=16)
    small = np.asarray(image.resize((32, 16), Image.Resampling.LANCZOS))
    assert all(c.tobytes() in windows(small, 8) for c in crops)
    unscaled = photos.random_crops(image, name="big", count=6, side=8, channels=3)
    assert np.array_equal(unscaled, photos.random_crops(image, name="big", count=6, side=8, channels=3,
                                                        max_short_side=100))  # not larger: untouched


def test_missing_art_packages_named_in_one_line(fake_art, monkeypatch):
    monkeypatch.setattr(styles, "OPENCLIPART_PNG", fake_art / "nowhere")
    with pytest.raises(GanforgeError) as caught:
        build_dataset(config("style-cartoon"))
    assert "apt-get install openclipart-png" in str(caught.value) and "\n" not in str(caught.value)
    monkeypatch.setattr(styles, "WESNOTH_STORY", {**styles.WESNOTH_STORY, "wesnoth-1.16-xyz": "campaigns/Xyz/images/story"})
    with pytest.raises(GanforgeError, match="apt-get install wesnoth-1.16-xyz"):
        build_dataset(config("style-painting"))


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["style-painting", "style-cartoon", "style-woodblock"])
def test_style_data_from_the_debian_packages(dataset):
    try:
        styles.STYLES[dataset].sources()
        photos.training_photos()
    except GanforgeError as err:
        pytest.skip(f"needs the Debian packages (make style-data photo-data): {err}")
    ds = build_dataset(config(dataset, resolution=32, limit=8))
    assert ds.a.shape == ds.b.shape == (8, 3, 32, 32) and ds.b.float().std() > 10
    assert len(styles.STYLES[dataset].sources()) >= 50
    held = [styles.STYLES[dataset].held_out(src.name) for src in styles.STYLES[dataset].sources()]
    assert 0.05 < sum(held) / len(held) < 0.25  # a held-out share of the art, never none or most


def test_make_style_data_installs_every_package_the_styles_read():
    from pathlib import Path

    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    line = makefile.split("STYLE_PACKAGES :=", 1)[1].split("\nstyle-data:", 1)[0]
    assert set(line.replace("\\", " ").split()) == set(styles.WESNOTH_STORY) | {"openclipart-png"}


def test_unpaired_folder_reads_both_sides_and_split_folders(tmp_path, save_image):
    for i in range(3):
        save_image(tmp_path / "flat" / "A" / f"photo{i}.jpg", size=(30, 20), seed=i)
    for i in range(2):
        save_image(tmp_path / "flat" / "B" / "sub" / f"art{i}.png", size=(20, 25), seed=10 + i)
    ds = build_dataset(config("unpaired-folder", path=str(tmp_path / "flat")))
    assert ds.a.shape == (6, 3, 8, 8) and ds.b.shape == (4, 3, 8, 8) and len(ds) == 6
    for split in ("train", "test"):
        save_image(tmp_path / "split" / split / "A" / "x.png", size=(16, 16), seed=20)
        save_image(tmp_path / "split" / split / "B" / "y.png", size=(16, 16), seed=21 if split == "train" else 22)
    train = build_dataset(config("unpaired-folder", path=str(tmp_path / "split")))
    test = build_dataset(config("unpaired-folder", path=str(tmp_path / "split"), split="test"))
    assert not torch.equal(train.b, test.b)


def test_unpaired_folder_errors_are_one_line(tmp_path, save_image):
    with pytest.raises(GanforgeError, match="needs data.path=DIR"):
        build_dataset(config("unpaired-folder"))
    save_image(tmp_path / "A" / "x.png", size=(16, 16))
    with pytest.raises(GanforgeError) as caught:
        build_dataset(config("unpaired-folder", path=str(tmp_path)))
    assert "B' does not exist" in str(caught.value) and "A/ and B/" in str(caught.value)
    (tmp_path / "B").mkdir()
    with pytest.raises(GanforgeError, match="has no image files"):
        build_dataset(config("unpaired-folder", path=str(tmp_path)))


def jigsaw_alpha(h: int = 120, w: int = 160) -> np.ndarray:
    """A puzzle piece's alpha: an opaque core (rows 20..99, cols 24..135) with a tab sticking out
    on the left, a blank cut into the top edge and a soft (partly transparent) bottom corner."""
    alpha = np.zeros((h, w), dtype=np.uint8)
    alpha[20:100, 24:136] = 255
    alpha[50:70, 4:24] = 255  # tab
    alpha[20:32, 70:90] = 0  # blank
    alpha[99, 24:30] = 128
    return alpha


def test_opaque_box_is_fully_opaque_and_keeps_most_of_the_piece():
    alpha = jigsaw_alpha()
    left, top, right, bottom = styles.opaque_box(alpha)
    assert (alpha[top:bottom, left:right] == 255).all()
    assert (right - left) * (bottom - top) >= 0.7 * 80 * 112
    assert styles.opaque_box(np.zeros((8, 8), dtype=np.uint8)) is None


def test_woodblock_sources_are_opaque_pieces_of_the_prints_held_out_by_print(tmp_path, monkeypatch):
    import io

    from .test_rcc import write_rcc

    def piece(seed: int) -> bytes:
        rng = np.random.default_rng(seed)
        rgba = np.dstack([rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), jigsaw_alpha()])
        out = io.BytesIO()
        Image.fromarray(rgba, "RGBA").save(out, format="WEBP", lossless=True)
        return out.getvalue()

    base = "gcompris/src/activities/paintings/resource/image"
    held, kept = sorted(styles.WOODBLOCK_TEST_PRINTS)[0], "GreatWave"
    files = {f"{base}/{held}_a1.webp": piece(1), f"{base}/{held}_a2.webp": piece(2),
             f"{base}/{kept}_b1.webp": piece(3), f"{base}/{kept}_b2.webp": piece(4),
             f"{base}/MonaLisa_a1.webp": piece(5),  # an oil painting: not a woodblock print
             f"{base}/README": b"text"}
    write_rcc(tmp_path / "paintings.rcc", files)
    monkeypatch.setattr(styles, "GCOMPRIS_RCC", tmp_path)
    sources = styles.woodblock_sources()
    assert [s.name.split("/")[1] for s in sources] == [held, held, kept, kept]  # sorted by name
    for src in sources:
        image = src.open()
        assert image.mode == "RGB" and min(image.size) >= styles.WOODBLOCK_MIN_SIDE
    style = styles.STYLES["style-woodblock"]
    assert [style.held_out(s.name) for s in sources] == [True, True, False, False]
    monkeypatch.setattr(styles, "GCOMPRIS_RCC", tmp_path / "nowhere")
    with pytest.raises(GanforgeError, match="gcompris-qt-data"):
        styles.woodblock_sources()
