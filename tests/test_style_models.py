"""The bundled style models: all three ship, each stylises a file, a folder and a large photo
from the CLI, the Python API takes a strength and returns a PIL image, each exports to ONNX with
the parity check passing, and each is small and records how it was trained."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import ganforge
from ganforge.pipelines import PRETRAINED_DIR, bundled_models
from ganforge.pipelines.onnx import PARITY_TOL

from .test_cli import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

STYLE_MODELS = ("style-painting", "style-cartoon", "style-woodblock")


def scene(w: int, h: int, seed: int = 0) -> Image.Image:
    """A photo-like picture: sky gradient, a dark hill, a bright disc, a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([90 + 100 * yy / h, 140 + 60 * yy / h, 230 - 40 * yy / h], axis=2)
    hill = yy > h * (0.6 + 0.1 * np.sin(xx / w * 6))
    img[hill] = [60, 110, 50]
    disc = (xx - 0.7 * w) ** 2 + (yy - 0.3 * h) ** 2 < (0.08 * min(w, h)) ** 2
    img[disc] = [250, 230, 120]
    return Image.fromarray(np.clip(img + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8))


def test_all_three_style_models_are_bundled():
    assert set(STYLE_MODELS) <= set(bundled_models())


def needs(name: str) -> None:
    if name not in bundled_models():
        pytest.skip(f"{name} is not bundled")  # test_all_three_style_models_are_bundled fails then


@pytest.mark.parametrize("name", STYLE_MODELS)
def test_python_api_takes_a_strength_and_returns_a_pil_image(name):
    needs(name)
    pipe = ganforge.load(name)
    photo = scene(96, 64)
    full, half = pipe(photo), pipe(photo, strength=0.5)
    assert isinstance(half, Image.Image) and half.size == photo.size and half.mode == "RGB"
    p, f, h = (np.asarray(x).astype(float) for x in (photo, full, half))
    assert np.abs(f - p).mean() > 8  # the style changes the photo
    assert np.abs(h - p).mean() < np.abs(f - p).mean()  # half strength stays closer to the photo
    assert np.array_equal(np.asarray(pipe(photo, strength=0.0)), np.asarray(photo))


@pytest.mark.parametrize("name", STYLE_MODELS)
def test_apply_on_a_file_a_folder_and_a_large_photo(name, tmp_path, monkeypatch, capsys):
    needs(name)
    scene(80, 60).save(tmp_path / "photo.jpg", quality=95)
    code, _, err = run_cli(monkeypatch, capsys, "apply", name, tmp_path / "photo.jpg", "--out", tmp_path / "art.png",
                           "-q")
    assert code == 0, err
    assert Image.open(tmp_path / "art.png").size == (80, 60)
    (tmp_path / "in" / "sub").mkdir(parents=True)
    scene(50, 40, 1).save(tmp_path / "in" / "a.png")
    scene(40, 50, 2).convert("RGBA").save(tmp_path / "in" / "sub" / "b.png")
    code, _, err = run_cli(monkeypatch, capsys, "apply", name, tmp_path / "in", "--out", tmp_path / "out",
                           "--strength", "0.75", "-q")
    assert code == 0, err
    assert Image.open(tmp_path / "out" / "a.png").size == (50, 40)
    assert Image.open(tmp_path / "out" / "sub" / "b.png").mode == "RGBA"
    # Large for a test: many tiles, one picture (tiled equals untiled within 1/255).
    scene(700, 500, 3).save(tmp_path / "big.png")
    code, _, err = run_cli(monkeypatch, capsys, "apply", name, tmp_path / "big.png", "--out", tmp_path / "big-art.png",
                           "--tile", "256", "-q")
    assert code == 0, err
    tiled = np.asarray(Image.open(tmp_path / "big-art.png")).astype(int)
    whole = np.asarray(ganforge.load(name)(Image.open(tmp_path / "big.png"), tile=None)).astype(int)
    assert tiled.shape == (500, 700, 3) and np.abs(tiled - whole).max() <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", STYLE_MODELS)
def test_export_onnx_passes_the_parity_check(name, tmp_path, monkeypatch, capsys):
    needs(name)
    code, _, err = run_cli(monkeypatch, capsys, "export-onnx", name, tmp_path / "s.onnx")
    assert code == 0, err
    diffs = [float(x.split()[-1]) for x in err.split("max |onnxruntime - torch|: ")[1].split(",")]
    assert len(diffs) == 2 and max(diffs) <= PARITY_TOL


@pytest.mark.parametrize("name", STYLE_MODELS)
def test_small_and_records_how_it_was_trained(name):
    needs(name)
    assert (PRETRAINED_DIR / name / "generator.safetensors").stat().st_size < 8 * 2**20
    info = json.loads((PRETRAINED_DIR / name / "config.json").read_text())
    assert info["pipeline"] == "style" and info["config"]["task"] == "unpaired"
    command = info["training"]["command"]
    assert command.startswith("ganforge train configs/") and name in command
    assert command in (PRETRAINED_DIR / name / "README.md").read_text()
