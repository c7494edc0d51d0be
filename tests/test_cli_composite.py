"""``ganforge composite`` end to end, and ``ganforge.composite``: files of any format in and out,
the options as flags, and bad inputs refused in one line with nothing written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import ganforge

from .test_cli import assert_one_line_error, run_cli
from .test_latent import bomb_png

pytestmark = pytest.mark.usefixtures("one_thread")


def cutout(path: Path, size: int = 16) -> Path:
    yy, xx = np.mgrid[:size, :size]
    rgba = np.zeros((size, size, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2] = 200, 40 + 4 * xx, 60
    rgba[..., 3] = np.where((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2 - 1) ** 2, 255, 0)
    Image.fromarray(rgba, "RGBA").save(path)
    return path


def backdrop(path: Path, w: int = 48, h: int = 32, **kw) -> Path:
    yy, xx = np.mgrid[:h, :w]
    Image.fromarray(np.dstack([40 + 3 * yy, 120 + xx, 90 + 0 * xx]).astype(np.uint8)).save(path, **kw)
    return path


@pytest.mark.parametrize("suffix, out_suffix", [(".jpg", ".png"), (".png", ".jpg"), (".webp", ".webp"),
                                                (".tif", ".tif"), (".bmp", ".png")])
def test_composite_writes_the_background_size_in_the_outs_format(tmp_path, monkeypatch, capsys, suffix, out_suffix):
    sub, bg = cutout(tmp_path / "sub.png"), backdrop(tmp_path / f"bg{suffix}")
    out = tmp_path / "res" / f"out{out_suffix}"
    code, stdout, err = run_cli(monkeypatch, capsys, "composite", sub, bg, "--out", out, "--scale", "1.5", "--x", "20",
                                "--shadow", "--blend", "mixed", "--harmonize", "0.5", "-q")
    assert code == 0, err
    assert err.startswith(f"wrote {out} (48 x 32) in ") and stdout == ""
    with Image.open(out) as img:
        assert img.size == (48, 32) and img.format == {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP", ".tif": "TIFF"}[out_suffix]


def test_flags_reach_the_library(tmp_path, monkeypatch, capsys):
    sub, bg = cutout(tmp_path / "sub.png"), backdrop(tmp_path / "bg.png")
    out = tmp_path / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "composite", sub, bg, "--out", out, "--x", "10", "--y", "10",
                           "--blend", "none", "--harmonize", "0", "--feather", "0", "-q")
    assert code == 0, err
    expected = ganforge.composite(sub, bg, x=10, y=10, blend="none", harmonize=0, feather=0)
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(expected))
    changed = (np.asarray(expected) != np.asarray(Image.open(bg))).any(axis=2)
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    assert rows[0] < 4 and cols[0] < 4 and rows[-1] < 20  # near the top left, where --x/--y put it


def test_python_api_takes_images_in_memory(tmp_path):
    sub = Image.open(cutout(tmp_path / "sub.png"))
    bg = np.asarray(Image.open(backdrop(tmp_path / "bg.png")))
    result = ganforge.composite(sub, bg, scale=2)
    assert isinstance(result, Image.Image) and result.size == (48, 32)
    with pytest.raises(ganforge.GanforgeError, match="scale: input should be greater than 0"):
        ganforge.composite(sub, bg, scale=0)
    with pytest.raises(ganforge.GanforgeError, match="colour is not an option"):
        ganforge.composite(sub, bg, colour="red")


def test_bad_inputs_are_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    sub, bg = cutout(tmp_path / "sub.png"), backdrop(tmp_path / "bg.png")
    opaque = backdrop(tmp_path / "opaque.png", 16, 16)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    bomb = bomb_png(tmp_path / "bomb.png", 100_000, 100_000)
    out = tmp_path / "out" / "res.png"
    cases = [
        ((opaque, bg), (), ["has no transparency", "--matte border"]),
        ((sub, bg), ("--x", "500"), ["lies outside the 48 x 32 background", "accepted"]),
        ((sub, bg), ("--scale", "4"), ["larger than the 48 x 32 background", "scale 2.461 or less"]),
        ((corrupt, bg), (), [str(corrupt)]),
        ((sub, bomb), (), ["too large"]),
        ((sub, tmp_path / "missing.png"), (), ["missing.png"]),
        ((sub, bg), ("--harmonize", "1.5"), ["--harmonize: input should be less than or equal to 1"]),
        ((sub, bg), ("--feather", "-1"), ["--feather"]),
    ]
    for (a, b), flags, needles in cases:
        code, _, err = run_cli(monkeypatch, capsys, "composite", a, b, "--out", out, *flags)
        assert_one_line_error(code, err, *needles)
        assert not out.parent.exists() or not any(out.parent.iterdir()), flags
    code, _, err = run_cli(monkeypatch, capsys, "composite", sub, bg, "--out", tmp_path / "x.gif")
    assert_one_line_error(code, err, "not an image format we write; accepted: .jpg")


def test_border_matte_from_the_cli(tmp_path, monkeypatch, capsys):
    on_white = np.full((20, 20, 3), 255, np.uint8)
    on_white[4:16, 4:16] = (20, 30, 160)
    Image.fromarray(on_white).save(tmp_path / "avatar.png")
    bg = backdrop(tmp_path / "bg.png")
    out = tmp_path / "out.png"
    code, _, err = run_cli(monkeypatch, capsys, "composite", tmp_path / "avatar.png", bg, "--out", out,
                           "--matte", "border", "--blend", "none", "--harmonize", "0", "--feather", "0", "-q")
    assert code == 0, err
    result = np.asarray(Image.open(out))
    assert tuple(result[16, 24]) == (20, 30, 160)
    assert np.array_equal(result[0], np.asarray(Image.open(bg))[0])  # the white backdrop is gone


def test_help_lists_every_option(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "composite", "--help")
    assert code == 0
    from ganforge.compose import CompositeOptions

    for name in CompositeOptions.model_fields:
        assert "--" + name.replace("_", "-") in out, name
