"""The bundled models load and generate straight after install."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import ganforge
from ganforge.data import FASHION_CLASSES
from ganforge.pipelines import PRETRAINED_DIR

EXPECTED = {"fashion-cgan": True, "fashion-dcgan": False, "fashion-stylegan": True}  # name -> conditional


def test_bundled_models_are_installed():
    assert set(EXPECTED) <= set(ganforge.bundled_models())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_model_generates(name):
    model = ganforge.load(name)
    assert model.conditional is EXPECTED[name]
    images = model.generate(20, seed=0)
    assert images.shape == (20, 32, 32, 1) and images.dtype == np.uint8
    assert images.std() > 10  # not a blank or constant picture
    assert not np.array_equal(images[0], images[1])
    # Small enough to ship: a few MB at most.
    assert (PRETRAINED_DIR / name / "generator.safetensors").stat().st_size < 4 * 2**20


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_card_records_the_command(name):
    info = json.loads((PRETRAINED_DIR / name / "config.json").read_text())
    command = info["training"]["command"]
    assert command.startswith("ganforge train configs/") and name in command
    assert command in (PRETRAINED_DIR / name / "README.md").read_text()


def test_fashion_cgan_classes_differ():
    model = ganforge.load("fashion-cgan")
    assert model.class_names == list(FASHION_CLASSES)
    means = [model.generate(32, classes=c, seed=0).astype(float).mean(axis=0) for c in ("trouser", "bag", "sandal")]
    # Same latents, different classes: the class must change the picture substantially.
    assert np.abs(means[0] - means[1]).mean() > 10 and np.abs(means[0] - means[2]).mean() > 10


@pytest.mark.slow
def test_generate_bundled_from_the_console_script(tmp_path):
    out = tmp_path / "s.png"
    proc = subprocess.run([sys.executable, "-m", "ganforge.cli", "generate", "fashion-cgan", "--class", "sneaker",
                           "-n", "16", "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 500


def test_bundled_stylegan_truncates_in_w():
    model = ganforge.load("fashion-stylegan")
    assert model.style_based
    full = model.generate(8, classes="sneaker", seed=0)
    average = model.generate(8, classes="sneaker", seed=0, truncation=0.0)
    assert not np.array_equal(full[0], full[1])
    # psi = 0: every latent maps to the class's average w, so all images are the same picture.
    assert all(np.array_equal(average[0], a) for a in average[1:])
    assert not np.array_equal(average[0], full[0])


def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "ganforge.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_latent_tools_on_the_bundled_stylegan(tmp_path):
    from PIL import Image

    _cli("interpolate", "fashion-stylegan", "--seeds", "1,2,3", "--steps", "3", "--space", "w", "--class", "sneaker",
         "--out", str(tmp_path / "walk.gif"))
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 2 * 4 + 1
    _cli("mix", "fashion-stylegan", "--rows", "1,2", "--cols", "3,4", "--class", "bag", "--out", str(tmp_path / "mix.png"))
    assert Image.open(tmp_path / "mix.png").size[0] > 3 * 32
    # Project an image the generator can make (seed 5, class dress): the error must fall well below a blank guess.
    target = ganforge.load("fashion-stylegan").generate(1, classes="dress", seed=5)[0]
    Image.fromarray(target[..., 0]).save(tmp_path / "target.png")
    proc = _cli("project", "fashion-stylegan", str(tmp_path / "target.png"), "--class", "dress", "--steps", "60",
                "--out", str(tmp_path / "proj"))
    assert (tmp_path / "proj" / "projected_w.safetensors").is_file()
    assert "psnr" in (proc.stdout + proc.stderr).lower()
    recon = np.asarray(Image.open(tmp_path / "proj" / "reconstruction.png")).astype(float)
    mse = ((recon.reshape(target.shape) - target) ** 2).mean()
    assert mse < 0.5 * ((target.astype(float) - target.mean()) ** 2).mean()
