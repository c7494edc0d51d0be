"""``ganforge apply`` and ``ganforge info`` with photo models, end to end through the CLI: every
tool on files and folders, output formats, metadata, bad files, --skip-existing and user errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps

import ganforge
from ganforge.pipelines import EnhancePipeline, bundled_models

from .builders import tiny_enhance_model
from .test_cli import assert_one_line_error, run_cli
from .test_latent import bomb_png

pytestmark = pytest.mark.usefixtures("one_thread")

TOOLS = {"upscale": 2, "denoise": 1, "restore": 2, "colorize": 1}  # tool -> output scale of its tiny model
ORIENTATION = ExifTags.Base.Orientation
SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("photo-models")
    return {tool: tiny_enhance_model(root / tool, tool) for tool in TOOLS}


def pixels(w: int, h: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(path: Path, w: int = 20, h: int = 14, mode: str = "RGB", seed: int = 0, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels(w, h, seed)).convert(mode).save(path, **kw)
    return path


def files_under(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden and temporary ones included), as sorted relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def summary(err: str) -> str:
    """The last line of stderr: the summary."""
    return err.strip().splitlines()[-1]


# -------------------------------------------------------------------------- files and folders

@pytest.mark.parametrize("tool", TOOLS)
def test_single_file_every_tool(models, tool, tmp_path, monkeypatch, capsys):
    src = save(tmp_path / "in.png")
    code, out, err = run_cli(monkeypatch, capsys, "apply", models[tool], src, "--out", tmp_path / "res.png", "-q")
    assert code == 0, err
    assert out == "" and err.startswith(f"wrote 1 image to {tmp_path / 'res.png'}; 0.0 MP in ")
    assert len(err.strip().splitlines()) == 1
    with Image.open(tmp_path / "res.png") as img:
        assert img.size == (20 * TOOLS[tool], 14 * TOOLS[tool]) and img.mode == "RGB"
        result = np.asarray(img)
    # The file holds what the Python API gives for the same photo.
    expected = ganforge.load(models[tool]).set_precision("fp32")(Image.open(src))
    assert np.array_equal(result, np.asarray(expected))


@pytest.mark.parametrize("tool", TOOLS)
def test_folder_is_searched_recursively_and_mirrored(models, tool, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    save(src / "a.png", 20, 14)
    save(src / "sub" / "b.jpg", 16, 12, seed=1)
    save(src / "sub" / "deeper" / "c.webp", 12, 18, seed=2)
    save(src / "d.bmp", 10, 10, seed=3, mode="L")  # not a format we write: PNG
    save(src / ".hidden" / "e.png")  # hidden: ignored
    (src / "notes.txt").write_text("not an image extension: ignored")
    code, _, err = run_cli(monkeypatch, capsys, "apply", models[tool], src, "--out", tmp_path / "out", "-q")
    assert code == 0, err
    assert summary(err).startswith(f"wrote 4 images to {tmp_path / 'out'}; ")
    assert files_under(tmp_path / "out") == ["a.png", "d.png", "sub/b.jpg", "sub/deeper/c.webp"]
    s = TOOLS[tool]
    expected = {"a.png": ((20 * s, 14 * s), "PNG"), "sub/b.jpg": ((16 * s, 12 * s), "JPEG"),
                "sub/deeper/c.webp": ((12 * s, 18 * s), "WEBP"), "d.png": ((10 * s, 10 * s), "PNG")}
    for name, (size, fmt) in expected.items():
        with Image.open(tmp_path / "out" / name) as img:
            assert (img.size, img.format) == (size, fmt), name
    with Image.open(tmp_path / "out" / "d.png") as img:  # grey stays grey, except through colorize
        assert img.mode == ("RGB" if tool == "colorize" else "L")


def test_outputs_of_one_folder_never_overwrite_each_other(models, tmp_path, monkeypatch, capsys):
    """a.png and a.bmp both map to out/a.png (BMP is written as PNG): the second result must not
    silently replace the first while both are counted as written."""
    src = tmp_path / "in"
    save(src / "a.png", seed=1)
    save(src / "a.bmp", seed=2)
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", tmp_path / "out", "-q")
    written = int(summary(err).split()[1])
    assert written == len(files_under(tmp_path / "out")), err  # every image counted as written is on disk
    assert written == 2 or (code == 1 and "a.bmp" in err), err  # else the clash is reported


@pytest.mark.parametrize("ext, fmt", [(".jpg", "JPEG"), (".jpeg", "JPEG"), (".png", "PNG"), (".webp", "WEBP"),
                                      (".tif", "TIFF"), (".tiff", "TIFF"), (".JPG", "JPEG")])
def test_single_output_format_follows_the_extension(models, ext, fmt, tmp_path, monkeypatch, capsys):
    src = save(tmp_path / "in.png")
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", tmp_path / f"res{ext}", "-q")
    assert code == 0, err
    with Image.open(tmp_path / f"res{ext}") as img:
        assert (img.format, img.size) == (fmt, (40, 28))


def test_format_option_converts_every_folder_output(models, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    save(src / "a.png")
    save(src / "sub" / "b.jpg", seed=1)
    save(src / "c.tif", seed=2)
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["denoise"], src, "--out", tmp_path / "out",
                           "--format", "webp", "-q")
    assert code == 0, err
    assert files_under(tmp_path / "out") == ["a.webp", "c.webp", "sub/b.webp"]
    for name in ("a.webp", "c.webp", "sub/b.webp"):
        with Image.open(tmp_path / "out" / name) as img:
            assert (img.format, img.size) == ("WEBP", (20, 14))


def test_single_file_into_a_folder_keeps_its_name(models, tmp_path, monkeypatch, capsys):
    src = save(tmp_path / "photo.jpg")
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", tmp_path / "out", "-q")
    assert code == 0, err
    assert files_under(tmp_path / "out") == ["photo.jpg"]


# ---------------------------------------------------------------------------------- metadata

def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[ExifTags.Base.Make] = "PhoneCo"
    return exif.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_exif_orientation_applied_and_icc_and_dpi_kept(models, ext, tmp_path, monkeypatch, capsys):
    # Stored 30 wide, 20 high; orientation 6 (rotate 90 degrees clockwise to view): upright 20 x 30.
    src = tmp_path / "phone.jpg"
    Image.fromarray(pixels(30, 20)).save(src, exif=_exif(6), icc_profile=SRGB, dpi=(300, 300), quality=95)
    out = tmp_path / f"res{ext}"
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", out, "-q")
    assert code == 0, err
    with Image.open(out) as img:
        assert img.size == (40, 60)  # upright, then x2
        assert img.info.get("icc_profile") == SRGB
        assert tuple(round(float(v)) for v in img.info["dpi"]) == (300, 300)
        exif = img.getexif()
        assert exif.get(ORIENTATION, 1) == 1 and exif[ExifTags.Base.Make] == "PhoneCo"
        result = np.asarray(img.convert("RGB")).astype(int)
    with Image.open(src) as img:
        upright = ImageOps.exif_transpose(img)
    expected = np.asarray(ganforge.load(models["upscale"]).set_precision("fp32")(upright)).astype(int)
    if ext == ".jpg":  # lossy: the same picture within JPEG's error, and not the unrotated one
        assert np.abs(result - expected).mean() < 4
    else:
        assert np.array_equal(result, expected)


# --------------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("name", ["res.bmp", "res.xyz", "res.gif"])
def test_unknown_output_extension_fails_before_any_work(models, name, tmp_path, monkeypatch, capsys):
    src = save(tmp_path / "in" / "a.png")
    (tmp_path / "out").mkdir()

    def no_work(*args, **kw):
        raise AssertionError("an image was processed before the output was checked")

    monkeypatch.setattr(EnhancePipeline, "process", no_work)
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", tmp_path / "out" / name)
    assert code == 2
    suffix = name.rsplit(".", 1)[1]
    assert_one_line_error(code, err, f"extension '.{suffix}' is not an image format we write",
                          "accepted: .jpg, .jpeg, .png, .webp, .tif, .tiff")
    assert files_under(tmp_path / "out") == []


def test_bad_files_in_a_folder_are_reported_and_skipped(models, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    save(src / "good.png")
    save(src / "sub" / "good2.jpg", seed=1)
    bomb_png(src / "bomb.png", 9_000, 9_000)  # over ganforge's limit
    bomb_png(src / "huge.png", 30_000, 30_000)  # over Pillow's own decompression-bomb limit too
    save(src / "cut.jpg", 64, 64)
    (src / "cut.jpg").write_bytes((src / "cut.jpg").read_bytes()[:600])
    (src / "notes.png").write_bytes(b"a shopping list, not a picture\n" * 10)
    frames = [Image.fromarray(pixels(8, 8, seed)) for seed in range(2)]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (src / "empty.jpg").write_bytes(b"")
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["restore"], src, "--out", out, "-q")
    assert code == 1
    lines = err.strip().splitlines()
    assert "Traceback" not in err and len(lines) == 7
    reasons = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[:-1]}
    assert reasons == {
        f"failed {src / 'anim.gif'}": "animated image (2 frames) not supported",
        f"failed {src / 'bomb.png'}": "too large: 9000 x 9000 > 64000000 pixels",
        f"failed {src / 'huge.png'}": reasons.get(f"failed {src / 'huge.png'}", "?"),
        f"failed {src / 'cut.jpg'}": "truncated",
        f"failed {src / 'empty.jpg'}": "empty file",
        f"failed {src / 'notes.png'}": reasons.get(f"failed {src / 'notes.png'}", "?"),
    }
    assert reasons[f"failed {src / 'notes.png'}"].startswith("not an image")
    assert reasons[f"failed {src / 'huge.png'}"].startswith("too large: ")
    assert lines[-1].startswith(f"wrote 2 images to {out}; ") and lines[-1].endswith("; 6 failed")
    assert files_under(out) == ["good.png", "sub/good2.jpg"]  # no partial or temporary files


def test_skip_existing_leaves_outputs_alone(models, tmp_path, monkeypatch, capsys):
    src = tmp_path / "in"
    save(src / "a.png")
    save(src / "b.png", seed=1)
    out = tmp_path / "out"
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", out, "-q")
    assert code == 0, err
    (out / "a.png").write_bytes(b"kept as it is")
    os.utime(out / "a.png", (1_000_000_000, 1_000_000_000))
    (out / "b.png").unlink()
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", out, "--skip-existing", "-q")
    assert code == 0, err
    assert (out / "a.png").read_bytes() == b"kept as it is" and (out / "a.png").stat().st_mtime == 1_000_000_000
    assert Image.open(out / "b.png").size == (40, 28)
    assert summary(err).startswith(f"wrote 1 image to {out}; ") and summary(err).endswith("; 1 already existed")
    # Without the flag the output is replaced.
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src, "--out", out, "-q")
    assert code == 0 and "already existed" not in err
    assert Image.open(out / "a.png").size == (40, 28)


# -------------------------------------------------------------------------------- user errors

def test_generation_model_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    assert "fashion-cgan" in bundled_models()
    src = save(tmp_path / "in.png")
    code, _, err = run_cli(monkeypatch, capsys, "apply", "fashion-cgan", src, "--out", tmp_path / "res.png")
    assert code == 2
    assert_one_line_error(code, err, "'fashion-cgan' is a generation model; apply needs a photo (enhance), style or "
                                     "image-to-image model", "ganforge generate")
    assert not (tmp_path / "res.png").exists()


@pytest.mark.parametrize("args, needle", [
    (["--noise-level", "10"], "--noise-level is not an option of this model; it takes --tile, --overlap, --precision"),
    (["--scale", "1"], "--scale is not an option of this model; it takes --tile, --overlap, --precision"),
    (["--tile", "8"], "--tile: input should be greater than or equal to 16, got 8"),
    (["--tile", "big"], "--tile must be a number of pixels or 'none', got 'big'"),
])
def test_options_the_model_does_not_take_are_one_line_errors(models, args, needle, tmp_path, monkeypatch, capsys):
    src = save(tmp_path / "in" / "a.png")
    code, _, err = run_cli(monkeypatch, capsys, "apply", models["upscale"], src.parent, "--out", tmp_path / "out",
                           *args, "-q")
    assert code == 2
    assert_one_line_error(code, err, needle)
    assert not (tmp_path / "out").exists()


def test_noise_level_and_scale_options_reach_their_models(models, tmp_path, monkeypatch, capsys):
    src = save(tmp_path / "in.png")
    for name, model, args in [("blind.png", "denoise", []), ("known.png", "denoise", ["--noise-level", "25"]),
                              ("same.png", "restore", ["--scale", "1"]), ("tiled.png", "restore", ["--tile", "none"])]:
        code, _, err = run_cli(monkeypatch, capsys, "apply", models[model], src, "--out", tmp_path / name, *args, "-q")
        assert code == 0, err
    blind, known = (np.asarray(Image.open(tmp_path / n)).astype(int) for n in ("blind.png", "known.png"))
    assert np.abs(blind - known).max() > 5
    assert Image.open(tmp_path / "same.png").size == (20, 14) and Image.open(tmp_path / "tiled.png").size == (40, 28)


# -------------------------------------------------------------------------------------- info

@pytest.mark.parametrize("tool", TOOLS)
def test_info_says_what_a_photo_model_does(models, tool, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "info", models[tool])
    assert code == 0, err
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1].strip() for line in out.splitlines() if ":" in line}
    summaries = {
        "upscale": "super-resolution: makes a photo 2x larger, restoring detail bicubic interpolation blurs",
        "denoise": "blind denoising: removes Gaussian (sigma 0-50), Poisson and JPEG noise",
        "restore": "restoration of old or damaged photos",
        "colorize": "colorization: gives a black-and-white photo plausible colours",
    }
    assert lines["does"].startswith(summaries[tool])
    assert lines["scale"] == f"{TOOLS[tool]}x ({tool}; any image size, in tiles)"
    assert lines["task"] == "enhance (enhance pipeline)"
    assert "classes" not in lines and "latent" not in lines


def test_info_of_the_bundled_upscaler():
    if "photo-upscale-x4" not in bundled_models():
        pytest.skip("photo-upscale-x4 is not bundled in this checkout")
    pipe = ganforge.load("photo-upscale-x4")
    d = pipe.describe()
    assert (d["tool"], d["scale"]) == ("upscale", 4) and d["does"].startswith("super-resolution: makes a photo 4x")


# ------------------------------------------------------------------------- the bundled models

PHOTO_MODELS = {"photo-upscale-x2": 2, "photo-upscale-x4": 4, "photo-upscale-x4-gan": 4, "photo-denoise": 1,
                "photo-restore": 2, "photo-colorize": 1}


def test_all_six_photo_models_are_bundled():
    assert set(PHOTO_MODELS) <= set(bundled_models())


@pytest.mark.parametrize("name", PHOTO_MODELS)
def test_every_bundled_photo_model_runs_on_a_file_and_a_folder(name, tmp_path, monkeypatch, capsys):
    if name not in bundled_models():
        pytest.skip(f"{name} is not bundled")  # test_all_six_photo_models_are_bundled fails then
    scale = PHOTO_MODELS[name]
    photo = save(tmp_path / "in" / "a.jpg", w=40, h=28, mode="L" if name == "photo-colorize" else "RGB")
    save(tmp_path / "in" / "sub" / "b.png", w=24, h=20, mode="RGBA")
    code, _, err = run_cli(monkeypatch, capsys, "apply", name, photo, "--out", tmp_path / "one.webp", "-q")
    assert code == 0, err
    with Image.open(tmp_path / "one.webp") as img:
        assert img.size == (40 * scale, 28 * scale)
        assert img.mode == "RGB"  # colorize turns the grey photo into colour; the others keep RGB
    code, _, err = run_cli(monkeypatch, capsys, "apply", name, tmp_path / "in", "--out", tmp_path / "out", "-q")
    assert code == 0, err
    assert files_under(tmp_path / "out") == ["a.jpg", "sub/b.png"]
    with Image.open(tmp_path / "out" / "sub" / "b.png") as img:
        assert (img.size, img.mode) == ((24 * scale, 20 * scale), "RGBA")


def test_every_option_of_every_image_model_is_an_apply_flag():
    """apply's flags and the image pipelines' options models cannot drift apart: each option a
    bundled photo or style model takes (and the image-to-image kind's, none) has its flag."""
    from ganforge.cli import cli
    from ganforge.pipelines import ImagePipeline, bundled_models

    flags = {p.name for p in cli.commands["apply"].params}
    image_models = [m for m in bundled_models() if isinstance(ganforge.load(m), ImagePipeline)]
    assert len(image_models) >= 9
    for name in image_models:
        options = set(ganforge.load(name).options_model.model_fields)
        assert options and options <= flags, (name, options - flags)
