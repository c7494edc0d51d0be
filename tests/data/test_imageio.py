"""open_image refuses every kind of bad file with a short reason; to_array crops and resizes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ganforge.data.imageio import ALLOWED_FORMATS, BadImageError, open_image, to_array
from ganforge.errors import GanforgeError


@pytest.mark.parametrize(
    ("name", "mode", "expected_mode"),
    [
        ("a.png", "RGB", "RGB"),
        ("a.jpg", "RGB", "RGB"),
        ("a.bmp", "RGB", "RGB"),
        ("a.gif", "RGB", "RGB"),
        ("a.tiff", "RGB", "RGB"),
        ("a.webp", "RGB", "RGB"),
        ("a.ppm", "RGB", "RGB"),
        ("a.pgm", "L", "L"),
        ("a.png", "L", "L"),
    ],
)
def test_allowed_formats_load(tmp_path, save_image, name, mode, expected_mode):
    path = save_image(tmp_path / name, size=(24, 16), mode=mode)
    img = open_image(path)
    assert img.size == (24, 16)
    assert img.mode == expected_mode


@pytest.mark.parametrize(("name", "fmt"), [("a.ico", "ICO"), ("a.pcx", "PCX"), ("disguised.png", "ICO")])
def test_format_outside_allow_list_refused(tmp_path, save_image, name, fmt):
    path = save_image(tmp_path / name, size=(16, 16), format=fmt)
    with pytest.raises(BadImageError) as info:
        open_image(path)
    assert info.value.reason.startswith(f"format {fmt} not allowed; accepted: PNG, JPEG")
    assert isinstance(info.value, GanforgeError)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("width", "height"),
    [
        (9_000, 9_000),  # 81 M pixels: over our 64 M limit, under Pillow's warning threshold
        (10_000, 10_000),  # 100 M: also triggers Pillow's DecompressionBombWarning
        (100_000, 100_000),  # 10 G: Pillow's DecompressionBombError fires while opening
    ],
)
def test_decompression_bomb_refused_before_decoding(tmp_path, bomb_png, width, height):
    path = bomb_png(tmp_path / "bomb.png", width, height)
    assert path.stat().st_size < 100
    with pytest.raises(BadImageError, match="too large"):
        open_image(path)
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # the global limit is left alone


def test_max_pixels_and_max_bytes_are_limits(tmp_path, save_image):
    path = save_image(tmp_path / "a.png", size=(64, 64))
    assert open_image(path, max_pixels=64 * 64).size == (64, 64)
    with pytest.raises(BadImageError, match=r"too large: 64 x 64 > 4095 pixels"):
        open_image(path, max_pixels=64 * 64 - 1)
    with pytest.raises(BadImageError, match="file too large"):
        open_image(path, max_bytes=100)


def test_truncated_jpeg_refused(tmp_path, truncated_jpeg):
    with pytest.raises(BadImageError) as info:
        open_image(truncated_jpeg(tmp_path / "cut.jpg"))
    assert info.value.reason == "truncated"


def test_truncated_png_refused(tmp_path, save_image):
    path = save_image(tmp_path / "cut.png", size=(64, 64))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(BadImageError, match="truncated"):
        open_image(path)


def test_junk_empty_and_missing_files_refused(tmp_path, not_an_image):
    with pytest.raises(BadImageError, match="not an image"):
        open_image(not_an_image(tmp_path / "notes.png"))
    (tmp_path / "empty.png").touch()
    with pytest.raises(BadImageError, match="empty file"):
        open_image(tmp_path / "empty.png")
    with pytest.raises(BadImageError, match="cannot read"):
        open_image(tmp_path / "missing.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(BadImageError, match="not a regular file"):
        open_image(tmp_path / "dir.png")


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257 * 100, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    img = open_image(tmp_path / "deep.png")
    assert img.mode == "L"
    assert np.asarray(img).tolist() == [[0, 100, 255]]


def test_transparency_composited_over_white(tmp_path):
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # one opaque red pixel, the rest fully transparent black
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    pixels = np.asarray(open_image(tmp_path / "alpha.png"))
    assert pixels[0, 0].tolist() == [255, 0, 0]
    assert pixels[1, 1].tolist() == [255, 255, 255]


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "phone.jpg", exif=exif)
    assert open_image(tmp_path / "phone.jpg").size == (20, 40)


def test_result_is_decoded_and_holds_no_file(tmp_path, save_image):
    path = save_image(tmp_path / "a.png")
    with Image.open(path) as original:
        expected = np.asarray(original.convert("RGB"))
    img = open_image(path)
    assert getattr(img, "fp", None) is None
    path.unlink()
    assert np.array_equal(np.asarray(img), expected)


def test_to_array_center_crops_then_resizes():
    # A wide image: black left and right thirds, white centre square.
    pixels = np.zeros((20, 60), dtype=np.uint8)
    pixels[:, 20:40] = 255
    img = Image.fromarray(pixels)
    grey = to_array(img, channels=1, resolution=10)
    assert grey.shape == (1, 10, 10) and grey.dtype == np.uint8
    assert (grey == 255).all()
    rgb = to_array(img, channels=3, resolution=8)
    assert rgb.shape == (3, 8, 8) and rgb.flags.c_contiguous
    assert (rgb == 255).all()


def test_to_array_channels():
    colour = Image.new("RGB", (5, 5), (255, 0, 0))
    assert to_array(colour, channels=3, resolution=5)[:, 0, 0].tolist() == [255, 0, 0]
    assert to_array(colour, channels=1, resolution=5)[0, 0, 0] == 76  # ITU-R 601 luma of red
    with pytest.raises(ValueError):
        to_array(colour, channels=2, resolution=5)


def test_allow_list_is_what_the_docs_say():
    assert ALLOWED_FORMATS == ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
