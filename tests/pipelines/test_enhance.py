"""The photo pipeline (``pipelines/enhance.py``) with tiny random models of every tool: input
modes and arrays, alpha and greyscale, tile parity, options, precision and save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

import ganforge
from ganforge.enhance import TOOLS
from ganforge.errors import GanforgeError
from ganforge.images import rgb_to_lab
from ganforge.pipelines import WEIGHTS, EnhancePipeline

from ..builders import tiny_enhance_model

pytestmark = pytest.mark.usefixtures("one_thread")

# (tool, trained scale): every tool, and both upscale factors.
MODELS = [("upscale", 2), ("upscale", 4), ("denoise", 1), ("restore", 2), ("colorize", 1)]
PIXEL_TOOLS = [m for m in MODELS if m[0] != "colorize"]
MODES = ["L", "LA", "RGB", "RGBA", "P", "P+transparency"]
SIZE = (23, 17)  # (W, H): odd, so the unshuffle-2 models pad and crop back


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[tuple[str, int], Path]:
    """One exported tiny model of each entry of MODELS."""
    root = tmp_path_factory.mktemp("enhance")
    return {(tool, scale): tiny_enhance_model(root / f"{tool}-x{scale}", tool, scale) for tool, scale in MODELS}


@pytest.fixture(scope="module")
def models(folders) -> dict[tuple[str, int], EnhancePipeline]:
    # fp32 whatever the machine ("auto" is bf16 on AMX CPUs): the tests below compare exact values.
    return {key: ganforge.load(folder).set_precision("fp32") for key, folder in folders.items()}


def colour_pixels(size=SIZE, seed: int = 0) -> np.ndarray:
    """uint8 (H, W, 3): a colour gradient plus noise, so every tile has structure."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) * 127 / max(w + h - 2, 1)], -1)
    noise = np.random.default_rng(seed).normal(0, 30, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def half_alpha(size=SIZE) -> np.ndarray:
    """uint8 (H, W): transparent left of the middle, opaque right of it."""
    alpha = np.zeros((size[1], size[0]), np.uint8)
    alpha[:, size[0] // 2:] = 255
    return alpha


def make_image(mode: str, size=SIZE) -> Image.Image:
    rgb = colour_pixels(size)
    if mode == "L":
        return Image.fromarray(rgb).convert("L")
    if mode == "LA":
        img = Image.fromarray(rgb).convert("L")
        img.putalpha(Image.fromarray(half_alpha(size)))
        return img
    if mode == "RGB":
        return Image.fromarray(rgb)
    if mode == "RGBA":
        return Image.fromarray(np.dstack([rgb, half_alpha(size)]))
    img = Image.fromarray(rgb).quantize(16)  # a colour palette
    if mode == "P+transparency":
        img.info["transparency"] = 0
    return img


def expected_alpha(img: Image.Image, out_size) -> np.ndarray | None:
    """The input's alpha (None: opaque), Lanczos-resized to the output, as the pipeline promises."""
    if img.mode == "P" and "transparency" in img.info:
        alpha = np.where(np.asarray(img) == img.info["transparency"], 0, 255).astype(np.uint8)
    elif img.mode in ("LA", "RGBA"):
        alpha = np.asarray(img)[..., -1]
    else:
        return None
    return np.asarray(Image.fromarray(alpha).resize(out_size, Image.Resampling.LANCZOS))


# ------------------------------------------------------------------------------ modes and arrays

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", MODELS, ids=[f"{t}-x{s}" for t, s in MODELS])
def test_every_input_mode_size_alpha_and_colour(models, model, mode):
    tool, scale = model
    img = make_image(mode)
    out = models[model](img)
    assert out.size == (SIZE[0] * scale, SIZE[1] * scale)
    grey_in = mode in ("L", "LA")
    has_alpha = mode in ("LA", "RGBA", "P+transparency")
    # Grey stays grey except through colorize, which makes it colour; alpha is kept either way.
    colour_out = not grey_in or tool == "colorize"
    assert out.mode == ("RGB" if colour_out else "L") + ("A" if has_alpha else "")
    alpha = expected_alpha(img, out.size)
    if alpha is not None:
        assert np.array_equal(np.asarray(out)[..., -1], alpha)
    if mode in ("LA", "RGBA"):  # the transparent half stays transparent beyond Lanczos' reach (3 input pixels)
        assert np.asarray(out)[..., -1][:, : (SIZE[0] // 2 - 3) * scale].max() == 0
        assert np.asarray(out)[..., -1][:, (SIZE[0] // 2 + 3) * scale:].min() == 255
    if colour_out:
        rgb = np.asarray(out.convert("RGB")).astype(int)
        # Real colour, not grey written as RGB: channels differ by tens of levels somewhere.
        assert np.abs(rgb[..., 0] - rgb[..., 1]).max() > 20 or np.abs(rgb[..., 1] - rgb[..., 2]).max() > 20


def test_colorize_keeps_the_photos_lightness(models):
    grey = make_image("L")
    out = models["colorize", 1](grey)

    def to_l(im: Image.Image) -> torch.Tensor:
        rgb = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        return rgb_to_lab(rgb)[0, 0]

    # Lab lightness of the input comes back (up to colours outside sRGB clipped by lab_to_rgb, and rounding).
    assert float((to_l(out) - to_l(grey)).abs().median()) < 1.0
    assert np.asarray(out).std(axis=2).mean() > 2  # and colour was added


@pytest.mark.parametrize("model", PIXEL_TOOLS + [("colorize", 1)], ids=lambda m: f"{m[0]}-x{m[1]}")
def test_numpy_arrays_equal_the_same_pil_images(models, model):
    pipe = models[model]
    rgb = colour_pixels()
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    rgba = np.dstack([rgb, half_alpha()])
    assert np.array_equal(np.asarray(pipe(rgb)), np.asarray(pipe(Image.fromarray(rgb))))
    assert np.array_equal(np.asarray(pipe(grey)), np.asarray(pipe(Image.fromarray(grey))))
    assert np.array_equal(np.asarray(pipe(grey[:, :, None])), np.asarray(pipe(Image.fromarray(grey))))
    assert np.array_equal(np.asarray(pipe(rgba)), np.asarray(pipe(Image.fromarray(rgba))))
    assert pipe(grey).mode == ("RGB" if model[0] == "colorize" else "L") and pipe(rgba).mode == "RGBA"


def test_bad_arrays_and_objects_are_one_line_errors(models):
    pipe = models["upscale", 2]
    with pytest.raises(GanforgeError, match=r"expected a uint8 array .* got float32 \(8, 8\)"):
        pipe(np.zeros((8, 8), np.float32))
    with pytest.raises(GanforgeError, match=r"got uint8 \(8, 8, 2\)"):
        pipe(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(GanforgeError, match="expected a PIL image, a uint8 numpy array or a Photo, got str"):
        pipe("photo.jpg")


def test_the_random_model_is_not_just_bicubic(models):
    # Otherwise the parity and option tests below could not fail.
    img = Image.fromarray(colour_pixels())
    out = np.asarray(models["upscale", 2](img)).astype(int)
    bicubic = np.asarray(img.resize((SIZE[0] * 2, SIZE[1] * 2), Image.Resampling.BICUBIC)).astype(int)
    assert np.abs(out - bicubic).mean() > 10


# ----------------------------------------------------------------------------------- tiling

@pytest.mark.parametrize("model", [("upscale", 2), ("restore", 2), ("denoise", 1)], ids=lambda m: f"{m[0]}-x{m[1]}")
def test_tiles_with_the_default_overlap_match_the_whole_image(models, model):
    pipe = models[model]
    img = Image.fromarray(colour_pixels((300, 260), seed=1))
    whole = np.asarray(pipe(img, tile=None)).astype(int)
    counts = []
    tiled = np.asarray(pipe(img, tile=64, progress=lambda done, total: counts.append(total))).astype(int)
    assert counts[-1] >= 30  # many tiles, so many seams in both directions
    assert tiled.shape == whole.shape == (260 * model[1], 300 * model[1], 3)
    assert np.abs(tiled - whole).max() <= 1
    # The test has teeth: an overlap below the receptive radius shows the seams.
    narrow = np.asarray(pipe(img, tile=64, overlap=2)).astype(int)
    assert np.abs(narrow - whole).max() > 1


# ---------------------------------------------------------------------------------- options

def test_noise_level_changes_the_denoiser_output(models):
    pipe = models["denoise", 1]
    img = Image.fromarray(colour_pixels())
    blind = np.asarray(pipe(img)).astype(int)
    known = np.asarray(pipe(img, noise_level=25)).astype(int)
    assert np.abs(known - blind).max() > 5
    assert np.array_equal(np.asarray(pipe(img, noise_level=25)), known)  # deterministic
    assert not np.array_equal(np.asarray(pipe(img, noise_level=5)), known)
    with pytest.raises(GanforgeError, match="^noise_level: input should be less than or equal to 255, got 300$"):
        pipe(img, noise_level=300)


@pytest.mark.parametrize("model", [("upscale", 2), ("restore", 2), ("colorize", 1)], ids=lambda m: m[0])
def test_noise_level_is_only_for_denoise(models, model):
    with pytest.raises(GanforgeError, match="^noise_level is not an option of this model; it takes tile, overlap, precision"):
        models[model](make_image("RGB"), noise_level=10)


def test_restore_scale_one_and_two(models):
    pipe = models["restore", 2]
    img = Image.fromarray(colour_pixels())
    double = pipe(img)
    assert double.size == (SIZE[0] * 2, SIZE[1] * 2)
    assert np.array_equal(np.asarray(pipe(img, scale=2)), np.asarray(double))
    same = pipe(img, scale=1)
    assert same.size == SIZE
    # 1x is the 2x result brought down with Lanczos (restore.py), not a second, different pass.
    assert np.array_equal(np.asarray(same), np.asarray(double.resize(SIZE, Image.Resampling.LANCZOS)))
    with pytest.raises(GanforgeError) as err:
        pipe(img, scale=4)
    assert str(err.value) == "restore gives 1x or 2x output, not 4x"


def test_other_tools_refuse_another_scale(models):
    # only restore offers a scale: the others' options have none, so asking for one is refused by name
    for scale in (2, 4):
        with pytest.raises(GanforgeError, match="^scale is not an option of this model; it takes tile, overlap, "):
            models["upscale", 4](make_image("RGB"), scale=scale)
    assert models["upscale", 4](make_image("RGB")).size == (SIZE[0] * 4, SIZE[1] * 4)


def test_tile_and_overlap_limits(models):
    pipe = models["upscale", 2]
    img = make_image("RGB", (40, 40))
    with pytest.raises(GanforgeError, match="^tile: input should be greater than or equal to 16, got 15$"):
        pipe(img, tile=15)
    with pytest.raises(GanforgeError, match="^overlap: input should be greater than or equal to 0, got -1$"):
        pipe(img, overlap=-1)
    assert pipe(img, tile=16).size == (80, 80)  # the smallest tile works (widened to fit the overlap)


# -------------------------------------------------------------------------- precision, saving

@pytest.mark.parametrize("model", MODELS, ids=[f"{t}-x{s}" for t, s in MODELS])
def test_bf16_stays_within_a_few_levels_of_fp32(models, folders, model):
    img = Image.fromarray(colour_pixels())
    fp32 = np.asarray(models[model](img)).astype(int)
    pipe = ganforge.load(folders[model]).set_precision("bf16")  # its own copy: see the test below
    assert pipe.runner.autocast_dtype == torch.bfloat16 and pipe.describe()["precision"] == "bf16"
    assert pipe.runner.channels_last
    bf16 = np.asarray(pipe(img)).astype(int)
    assert np.abs(bf16 - fp32).max() <= 4 and np.abs(bf16 - fp32).mean() < 1


def test_unknown_precision_is_refused(models):
    with pytest.raises(GanforgeError, match="^precision 'fp16' is not one of auto, fp32, bf16$"):
        models["upscale", 2].set_precision("fp16")


def test_save_pretrained_writes_fp32_while_running_bf16(tmp_path):
    folder = tiny_enhance_model(tmp_path / "model", "denoise")
    pipe = ganforge.load(folder).set_precision("bf16")
    pipe.save_pretrained(tmp_path / "saved")
    assert pipe.precision == "bf16" and pipe.runner.autocast_dtype == torch.bfloat16  # still running bf16
    with safe_open(tmp_path / "saved" / WEIGHTS, "pt") as f:
        dtypes = {f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes == {torch.float32}


def test_running_bf16_keeps_the_fp32_weights(tmp_path):
    """Running in bf16 must not round the weights: back in fp32 the results are the fp32 ones,
    and a save writes the original weights. (On AMX CPUs "auto" picks bf16 as soon as a model
    loads, so ``ganforge export`` of an enhance run would otherwise publish bf16-rounded weights
    in fp32 clothing.)"""
    folder = tiny_enhance_model(tmp_path / "model", "upscale")
    img = Image.fromarray(colour_pixels())
    fp32 = np.asarray(ganforge.load(folder).set_precision("fp32")(img))
    pipe = ganforge.load(folder).set_precision("bf16")
    pipe.save_pretrained(tmp_path / "saved")
    with safe_open(folder / WEIGHTS, "pt") as original, safe_open(tmp_path / "saved" / WEIGHTS, "pt") as saved:
        changed = [k for k in original.keys() if not torch.equal(original.get_tensor(k), saved.get_tensor(k))]
    assert changed == []
    assert np.array_equal(np.asarray(pipe.set_precision("fp32")(img)), fp32)


@pytest.mark.parametrize("model", MODELS, ids=[f"{t}-x{s}" for t, s in MODELS])
def test_load_and_describe(models, model):
    tool, scale = model
    pipe = models[model]
    assert isinstance(pipe, EnhancePipeline) and pipe.tool is TOOLS.get(tool) and pipe.scale == scale
    d = pipe.describe()
    assert (d["kind"], d["tool"], d["scale"], d["task"]) == ("enhance", tool, scale, "enhance")
    assert d["does"] == TOOLS.get(tool).summary.format(scale=scale)
    assert (d["in_channels"], d["out_channels"]) == TOOLS.get(tool).channels()
    if tool == "upscale":
        assert d["does"].startswith(f"super-resolution: makes a photo {scale}x larger")
