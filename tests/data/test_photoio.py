"""read_photo / write_photo: modes, alpha, grey, EXIF orientation, ICC, dpi, refusals, atomic writes."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from ganforge.data.photoio import (
    OUTPUT_FORMATS,
    Photo,
    output_format,
    photo_from_pil,
    read_photo,
    resize_alpha,
    write_photo,
)
from ganforge.data.imageio import BadImageError
from ganforge.errors import GanforgeError

ORIENTATION = ExifTags.Base.Orientation
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _gradient(width: int = 12, height: int = 8) -> np.ndarray:
    """Smooth colour, so lossy codecs stay within a few levels; uint8 (H, W, 3)."""
    y, x = np.mgrid[0:height, 0:width]
    blue = 255 - (x + y) * 255 // (width + height - 2)
    return np.stack([x * 255 // (width - 1), y * 255 // (height - 1), blue], axis=-1).astype(np.uint8)


def _alpha(width: int = 12, height: int = 8) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 37 + y * 11) % 256).astype(np.uint8)


def _palette_image(transparency: bool, grey_palette: bool = False) -> Image.Image:
    indices = (np.arange(12 * 8).reshape(8, 12) % 4).astype(np.uint8)
    img = Image.frombytes("P", (12, 8), indices.tobytes())
    colours = [(90, 90, 90), (10, 10, 10), (200, 200, 200), (255, 255, 255)] if grey_palette else \
        [(255, 0, 0), (0, 255, 0), (0, 0, 255), (250, 250, 10)]
    img.putpalette([c for colour in colours for c in colour])
    if transparency:
        img.info["transparency"] = 2
    return img


def _source(mode: str) -> Image.Image:
    if mode == "P":
        return _palette_image(transparency=False)
    if mode == "P+t":
        return _palette_image(transparency=True)
    rgba = Image.fromarray(np.dstack([_gradient(), _alpha()]), mode="RGBA")
    return rgba.convert(mode)


def _save(img: Image.Image, path, fmt: str, **options):
    extra = {"transparency": img.info["transparency"]} if "transparency" in img.info else {}
    img.save(path, format=fmt, **extra, **options)
    return path


# Reading: every mode of every format --------------------------------------------------------------------------

READ_CASES = [
    ("PNG", mode) for mode in ("L", "LA", "RGB", "RGBA", "P", "P+t")
] + [
    ("TIFF", mode) for mode in ("L", "LA", "RGB", "RGBA", "P")
] + [
    ("WEBP", "RGB"), ("WEBP", "RGBA"), ("JPEG", "L"), ("JPEG", "RGB"), ("GIF", "P"), ("GIF", "P+t"),
]


@pytest.mark.parametrize(("fmt", "mode"), READ_CASES, ids=[f"{f}-{m}" for f, m in READ_CASES])
def test_read_each_mode(tmp_path, fmt, mode):
    src = _source(mode)
    options = {"WEBP": {"lossless": True, "exact": True}, "JPEG": {"quality": 95, "subsampling": 0}}.get(fmt, {})
    photo = read_photo(_save(src, tmp_path / f"a.{fmt.lower()}", fmt, **options))

    expected = np.asarray(src.convert("RGBA"))
    grey = mode in ("L", "LA")
    has_alpha = mode in ("LA", "RGBA", "P+t")
    assert photo.format == fmt
    assert photo.grey is grey
    assert photo.pixels.dtype == np.uint8 and photo.pixels.shape == ((8, 12) if grey else (8, 12, 3))
    want = expected[..., 0] if grey else expected[..., :3]
    error = np.abs(photo.pixels.astype(int) - want)
    if fmt == "JPEG":
        assert error.mean() < 2 and error.max() <= 16
    else:
        assert error.max() == 0
    if has_alpha:
        np.testing.assert_array_equal(photo.alpha, expected[..., 3])
    else:
        assert photo.alpha is None


def test_grey_palette_reads_as_grey_and_colour_palette_does_not(tmp_path):
    grey = read_photo(_save(_palette_image(False, grey_palette=True), tmp_path / "g.png", "PNG"))
    colour = read_photo(_save(_palette_image(False), tmp_path / "c.png", "PNG"))
    assert grey.grey and grey.pixels.shape == (8, 12)
    assert set(np.unique(grey.pixels)) == {10, 90, 200, 255}
    assert not colour.grey and colour.pixels.shape == (8, 12, 3)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "a.png")
    photo = read_photo(tmp_path / "a.png")
    assert photo.grey
    np.testing.assert_array_equal(photo.pixels, [[0, 1, 128, 255]])


def test_one_bit_and_cmyk(tmp_path):
    Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("1").save(tmp_path / "a.tif")
    bits = read_photo(tmp_path / "a.tif")
    assert bits.grey and bits.pixels.tolist() == [[0, 255]]

    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", quality=100)
    cmyk = read_photo(tmp_path / "c.jpg")
    assert not cmyk.grey and cmyk.icc_profile is None  # naive conversion: no profile to claim
    assert np.abs(cmyk.pixels.astype(int) - [255, 0, 0]).max() <= 3


def test_mpo_camera_jpeg_reads_its_first_frame(tmp_path):
    first, preview = Image.new("RGB", (8, 6), (250, 0, 0)), Image.new("RGB", (4, 3), (0, 0, 250))
    first.save(tmp_path / "a.jpg", format="MPO", save_all=True, append_images=[preview])
    photo = read_photo(tmp_path / "a.jpg")
    assert photo.format == "MPO" and photo.size == (8, 6)
    assert photo.pixels[..., 0].min() > 240


# Writing: every output format x grey/colour x alpha ------------------------------------------------------------

WRITE_CASES = [(ext, grey, alpha) for ext in (".png", ".tif", ".webp", ".jpg") for grey in (False, True)
               for alpha in (False, True)]


@pytest.mark.parametrize(("ext", "grey", "alpha"), WRITE_CASES,
                         ids=[f"{e[1:]}-{'L' if g else 'RGB'}{'A' if a else ''}" for e, g, a in WRITE_CASES])
def test_write_then_read_round_trip(tmp_path, ext, grey, alpha):
    colour = _gradient()
    pixels = colour[..., 0].copy() if grey else colour
    photo = Photo(pixels=pixels, alpha=_alpha() if alpha else None, grey=grey)
    path = tmp_path / f"out{ext}"
    write_photo(path, photo, lossless=True)  # lossless only affects WebP

    back = read_photo(path)
    assert back.format == OUTPUT_FORMATS[ext]
    assert back.grey is grey
    if ext == ".jpg":
        assert back.alpha is None
        want = photo.pixels if not alpha else _over_white(photo)
        error = np.abs(back.pixels.astype(int) - want)
        assert error.mean() < 4 and error.max() <= 16  # the composited alpha pattern has sharp edges
    else:
        np.testing.assert_array_equal(back.pixels, photo.pixels)
        if alpha:
            np.testing.assert_array_equal(back.alpha, photo.alpha)
        else:
            assert back.alpha is None
    with Image.open(path) as raw:  # grey stays grey on disk, except in WebP, which has no grey mode
        on_disk = (grey and ext != ".webp", alpha and ext != ".jpg")
        modes = {(False, False): "RGB", (False, True): "RGBA", (True, False): "L", (True, True): "LA"}
        assert raw.mode == modes[on_disk]


def _over_white(photo: Photo) -> np.ndarray:
    a = photo.alpha.astype(float) / 255.0
    a = a if photo.grey else a[..., None]
    return np.rint(photo.pixels * a + 255.0 * (1 - a))


def test_jpeg_composites_alpha_over_white(tmp_path):
    pixels = np.full((8, 24, 3), (200, 0, 0), dtype=np.uint8)
    alpha = np.zeros((8, 24), dtype=np.uint8)
    alpha[:, 8:16], alpha[:, 16:] = 128, 255
    write_photo(tmp_path / "a.jpg", Photo(pixels=pixels, alpha=alpha))
    back = read_photo(tmp_path / "a.jpg").pixels.astype(int)
    assert np.abs(back[4, 2] - [255, 255, 255]).max() <= 3  # transparent -> white
    assert np.abs(back[4, 12] - [228, 127, 127]).max() <= 3  # half -> halfway to white
    assert np.abs(back[4, 20] - [200, 0, 0]).max() <= 3  # opaque -> unchanged


def test_lossy_webp_keeps_colour_close(tmp_path):
    write_photo(tmp_path / "a.webp", Photo(pixels=_gradient(64, 48)))
    back = read_photo(tmp_path / "a.webp")
    assert not back.grey
    assert np.abs(back.pixels.astype(int) - _gradient(64, 48)).mean() < 3


# Metadata -------------------------------------------------------------------------------------------------------


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[ExifTags.Base.Make] = "PhoneCo"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2021:06:01 12:00:00"
    return exif


def test_exif_orientation_applied_to_jpeg_and_saved_as_one(tmp_path):
    # Stored 24 wide x 16 tall: left half black, right half white. Orientation 6 means "turn
    # 90 degrees clockwise to view": upright it is 16 x 24, black on top.
    stored = np.zeros((16, 24, 3), dtype=np.uint8)
    stored[:, 12:] = 255
    Image.fromarray(stored).save(tmp_path / "in.jpg", exif=_exif(6).tobytes(), quality=95)

    photo = read_photo(tmp_path / "in.jpg")
    assert photo.size == (16, 24)
    assert photo.pixels[:10].max() < 30 and photo.pixels[14:].min() > 225
    write_photo(tmp_path / "out.jpg", photo)
    with Image.open(tmp_path / "out.jpg") as out:
        exif = out.getexif()
        assert exif[ORIENTATION] == 1
        assert exif[ExifTags.Base.Make] == "PhoneCo"
        assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2021:06:01 12:00:00"
        assert out.size == (16, 24)


def test_exif_orientation_turns_alpha_with_pixels(tmp_path):
    pixels = _gradient()
    alpha = _alpha()
    img = Image.fromarray(np.dstack([pixels, alpha]), mode="RGBA")
    img.save(tmp_path / "in.png", exif=_exif(6).tobytes())
    photo = read_photo(tmp_path / "in.png")
    upright = np.asarray(img.transpose(Image.Transpose.ROTATE_270))
    np.testing.assert_array_equal(photo.pixels, upright[..., :3])
    np.testing.assert_array_equal(photo.alpha, upright[..., 3])
    parsed = Image.Exif()
    parsed.load(photo.exif)
    assert parsed[ORIENTATION] == 1


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".tif"])
def test_icc_profile_and_exif_kept(tmp_path, ext):
    photo = Photo(pixels=_gradient(), icc_profile=SRGB, exif=_exif(1).tobytes())
    write_photo(tmp_path / f"a{ext}", photo)
    back = read_photo(tmp_path / f"a{ext}")
    assert back.icc_profile == SRGB
    parsed = Image.Exif()
    parsed.load(back.exif)
    assert parsed[ExifTags.Base.Make] == "PhoneCo"


def test_icc_profile_of_another_colour_space_is_left_out(tmp_path):
    grey_profile = SRGB[:16] + b"GRAY" + SRGB[20:]
    # A grey photo, colourised: its grey profile no longer describes the pixels.
    colourised = Photo(pixels=_gradient()[..., 0].copy(), grey=True, icc_profile=grey_profile).with_pixels(_gradient())
    write_photo(tmp_path / "a.png", colourised)
    assert read_photo(tmp_path / "a.png").icc_profile is None
    write_photo(tmp_path / "b.png", Photo(pixels=_gradient()[..., 0].copy(), grey=True, icc_profile=grey_profile))
    assert read_photo(tmp_path / "b.png").icc_profile == grey_profile


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif"])
def test_dpi_kept(tmp_path, ext):
    write_photo(tmp_path / f"a{ext}", Photo(pixels=_gradient(), info={"dpi": (300.0, 150.0)}))
    x, y = read_photo(tmp_path / f"a{ext}").info["dpi"]
    assert x == pytest.approx(300, abs=0.1) and y == pytest.approx(150, abs=0.1)


def test_png_text_kept_but_not_xmp(tmp_path):
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Title", "grandma's garden")
    chunks.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta tiff:Orientation='6'/>")
    Image.fromarray(_gradient()).save(tmp_path / "in.png", pnginfo=chunks)
    photo = read_photo(tmp_path / "in.png")
    assert photo.info["text"] == {"Title": "grandma's garden"}
    write_photo(tmp_path / "out.png", photo)
    assert read_photo(tmp_path / "out.png").info["text"] == {"Title": "grandma's garden"}


def test_layout_tags_of_a_tiff_source_are_not_carried_as_exif(tmp_path):
    Image.fromarray(_gradient()).save(tmp_path / "in.tif", exif=_exif(1).tobytes())
    parsed = Image.Exif()
    parsed.load(read_photo(tmp_path / "in.tif").exif)
    assert parsed[ExifTags.Base.Make] == "PhoneCo"
    assert not {ExifTags.Base.StripOffsets, ExifTags.Base.ImageWidth, ExifTags.Base.BitsPerSample} & set(parsed)


def test_upscaled_pixels_bring_alpha_to_their_size():
    photo = Photo(pixels=_gradient(), alpha=_alpha(), info={"dpi": (72.0, 72.0)})
    bigger = photo.with_pixels(np.zeros((16, 24, 3), dtype=np.uint8))
    assert bigger.alpha.shape == (16, 24) and bigger.alpha.dtype == np.uint8
    assert bigger.info == photo.info and not bigger.grey
    assert resize_alpha(np.full((2, 2), 255, np.uint8), (8, 4)).tolist() == [[255] * 8] * 4
    assert resize_alpha(None, (8, 4)) is None


def test_pil_images_are_accepted(tmp_path):
    img = Image.fromarray(np.dstack([_gradient(), _alpha()]), mode="RGBA")
    photo = photo_from_pil(img)
    assert photo.alpha is not None and photo.format is None
    write_photo(tmp_path / "a.png", img)
    np.testing.assert_array_equal(np.asarray(photo.to_pil()), np.asarray(img))
    np.testing.assert_array_equal(read_photo(tmp_path / "a.png").alpha, _alpha())


# Refusals ------------------------------------------------------------------------------------------------------


def _refused(path, **limits) -> BadImageError:
    with pytest.raises(BadImageError) as info:
        read_photo(path, **limits)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return info.value


@pytest.mark.parametrize(("width", "height"), [(9_000, 9_000), (30_000, 30_000)])
def test_decompression_bomb_refused(tmp_path, bomb_png, width, height):
    path = bomb_png(tmp_path / "bomb.png", width, height)
    assert _refused(path).reason.startswith("too large")


def test_max_pixels_and_max_bytes(tmp_path):
    path = _save(Image.fromarray(_gradient()), tmp_path / "a.png", "PNG")
    assert _refused(path, max_pixels=95).reason == "too large: 12 x 8 > 95 pixels"
    assert _refused(path, max_bytes=10).reason.startswith("file too large")
    assert read_photo(path, max_pixels=96).size == (12, 8)


def test_truncated_not_an_image_empty_and_disallowed_format(tmp_path, truncated_jpeg, not_an_image, save_image):
    assert _refused(truncated_jpeg(tmp_path / "cut.jpg")).reason == "truncated"
    assert _refused(not_an_image(tmp_path / "list.png")).reason.startswith("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    assert _refused(tmp_path / "empty.png").reason == "empty file"
    assert _refused(save_image(tmp_path / "a.ico", format="ICO")).reason.startswith("format ICO not allowed")


@pytest.mark.parametrize(("name", "fmt"), [("a.gif", "GIF"), ("a.webp", "WEBP"), ("a.png", "PNG"), ("a.tif", "TIFF")])
def test_animated_and_multi_page_refused(tmp_path, name, fmt):
    frames = [Image.new("RGB", (8, 8), (i * 80, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / name, format=fmt, save_all=True, append_images=frames[1:])
    assert _refused(tmp_path / name).reason == "animated image (3 frames) not supported"


# Output paths and atomic writes -------------------------------------------------------------------------------


def test_output_format_from_extension():
    assert output_format("x/Photo.JPG") == "JPEG"
    assert output_format("a.tiff") == "TIFF" and output_format("a.webp") == "WEBP"
    with pytest.raises(GanforgeError, match=r"a\.bmp: extension '\.bmp' .*accepted: \.jpg, \.jpeg, \.png, \.webp"):
        output_format("a.bmp")
    with pytest.raises(GanforgeError, match="no extension"):
        output_format("photo")
    with pytest.raises(GanforgeError, match="too large for WEBP"):
        output_format("a.webp", (20_000, 100))
    assert output_format("a.png", (20_000, 100)) == "PNG"


def _failing(*args, **kwargs):
    raise OSError(28, "No space left on device")


def _failing_half_way(img, fp, filename):
    """A PNG encoder that writes the signature, then fails: a direct save would leave this much."""
    fp.write(b"\x89PNG\r\n\x1a\n")
    raise OSError("encoder error -2")


@pytest.mark.parametrize("stage", ["encode", "rename"])
def test_failed_write_keeps_previous_output_and_leaves_no_temp(tmp_path, monkeypatch, stage):
    out = tmp_path / "out.png"
    write_photo(out, Photo(pixels=_gradient()))
    before = out.read_bytes()
    if stage == "encode":
        monkeypatch.setitem(Image.SAVE, "PNG", _failing_half_way)
        error = OSError
    else:
        monkeypatch.setattr(os, "replace", _failing)
        error = GanforgeError
    with pytest.raises(error):
        write_photo(out, Photo(pixels=np.zeros((8, 12, 3), dtype=np.uint8)))
    monkeypatch.undo()
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_photo_refuses_inconsistent_arrays():
    with pytest.raises(ValueError, match="grey"):
        Photo(pixels=np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="alpha"):
        Photo(pixels=np.zeros((4, 4, 3), np.uint8), alpha=np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        Photo(pixels=np.zeros((4, 4, 3), np.float32))
