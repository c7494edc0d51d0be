"""The bundled models load and generate straight after install."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import ganforge
from ganforge.data import FASHION_CLASSES
from ganforge.images import make_grid
from ganforge.pipelines import PRETRAINED_DIR

EXPECTED = {"fashion-cgan": True, "fashion-dcgan": False, "fashion-stylegan": True}  # name -> conditional
FAMILY = {"fashion-cgan": "dcgan", "fashion-dcgan": "dcgan", "fashion-stylegan": "stylegan"}


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
def test_weights_file_holds_the_loaded_network(name):
    tensors = load_file(PRETRAINED_DIR / name / "generator.safetensors")
    state = ganforge.load(name).network.state_dict()
    assert sorted(tensors) == sorted(state)
    for key, tensor in tensors.items():
        assert torch.equal(tensor, state[key].cpu()), key
        assert not tensor.is_floating_point() or torch.isfinite(tensor).all(), key
    assert any(t.is_floating_point() and t.abs().sum() > 0 for t in tensors.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_json_describes_the_model(name):
    info = json.loads((PRETRAINED_DIR / name / "config.json").read_text())
    assert info["format"] == "ganforge-generator" and info["config"]["name"] == name
    model = info["config"]["model"]
    assert model["family"] == FAMILY[name] and model["conditional"] is EXPECTED[name]
    assert model["output_shape"] == [1, 32, 32] and info["config"]["data"]["dataset"] == "fashion-mnist"
    assert info["class_names"] == (list(FASHION_CLASSES) if EXPECTED[name] else None)
    loaded = ganforge.load(name)
    assert loaded.config.model.family == FAMILY[name] and loaded.class_names == info["class_names"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_model_card_names_the_model_and_records_the_command(name):
    info = json.loads((PRETRAINED_DIR / name / "config.json").read_text())
    card = (PRETRAINED_DIR / name / "README.md").read_text()
    command = info["training"]["command"]
    assert command.startswith("ganforge train configs/") and name in command
    assert command in card
    assert card.splitlines()[0] == f"# {name}"
    kind = "class-conditional " if EXPECTED[name] else ""
    assert f"A {kind}{FAMILY[name]} generator made with ganforge" in card
    assert "| output | 1 x 32 x 32 |" in card
    assert ("| classes | " + ", ".join(FASHION_CLASSES) + " |" in card) is EXPECTED[name]
    # every measured figure in config.json is on the card
    for key, value in info["metrics"].items():
        if key != "protocol":
            assert f"- {key}: {value}" in card, key


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
    # a row of 16 sneakers of 32 px with 2 px gaps (16 * 34 + 2 = 546 by 36): the API's pictures
    grid = np.asarray(Image.open(out))
    assert grid.shape == (36, 546)
    sneakers = ganforge.load("fashion-cgan").generate(16, classes="sneaker", seed=0)
    np.testing.assert_array_equal(grid[..., None], make_grid(sneakers, 16))


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
    _cli("interpolate", "fashion-stylegan", "--seeds", "1,2,3", "--steps", "3", "--space", "w", "--class", "sneaker",
         "--out", str(tmp_path / "walk.gif"))
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 2 * 4 + 1
    _cli("mix", "fashion-stylegan", "--rows", "1,2", "--cols", "3,4", "--class", "bag", "--out", str(tmp_path / "mix.png"))
    # 3 x 3 cells of 32 px with 2 px gaps (104 px), enlarged 512 // 104 = 4 times: a blank corner, the
    # column seeds across the top, the row seeds down the left, each the seed's own image; mixes inside.
    mix = np.asarray(Image.open(tmp_path / "mix.png"))
    assert mix.shape == (416, 416)
    cell = lambda r, c: mix[::4, ::4][2 + 34 * r : 34 + 34 * r, 2 + 34 * c : 34 + 34 * c]  # noqa: E731
    model = ganforge.load("fashion-stylegan")
    own = {seed: model.generate(1, classes="bag", seed=seed)[0, ..., 0] for seed in (1, 2, 3, 4)}
    assert (cell(0, 0) == 255).all()
    for i, (row_seed, col_seed) in enumerate([(1, 3), (2, 4)], start=1):
        np.testing.assert_array_equal(cell(0, i), own[col_seed])
        np.testing.assert_array_equal(cell(i, 0), own[row_seed])
        assert not np.array_equal(cell(i, i), own[row_seed]) and not np.array_equal(cell(i, i), own[col_seed])
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


# python-avatars' parameter names, in label column order (data/avatars.py: TRAITS)
AVATAR_TRAITS = ("top", "hair_color", "skin_color", "eyes", "eyebrows", "mouth", "facial_hair", "facial_hair_color",
                 "accessory", "clothing", "clothing_color", "hat_color")


def test_character_avatar_loads_with_its_12_traits():
    assert "character-avatar" in ganforge.bundled_models()
    model = ganforge.load("character-avatar")
    assert [t.name for t in model.conditioning.traits] == list(AVATAR_TRAITS)
    assert model.conditioning.trait("hair_color").values[8] == "red"
    assert (PRETRAINED_DIR / "character-avatar" / "generator.safetensors").stat().st_size < 8 * 2**20
    card = (PRETRAINED_DIR / "character-avatar" / "README.md").read_text()
    assert "| data licence | MIT (python-avatars) |" in card and "AMD EPYC" in card


def test_character_avatar_honours_a_trait_choice():
    model = ganforge.load("character-avatar")
    chosen = {"hair_color": "red", "clothing": "hoodie"}
    images, labels = model.generate_tensor(8, seed=3, traits=chosen)
    assert tuple(images.shape) == (8, 3, 64, 64) and tuple(labels.shape) == (8, 12)
    assert all(t["hair_color"] == "red" and t["clothing"] == "hoodie" for t in model.traits_of(labels))
    # the traits left out are drawn per image, so the 8 characters do not all share them
    assert len({t["top"] for t in model.traits_of(labels)}) > 1
    # same seed, another hair colour: only that column of the labels changes, and the picture does
    other, other_labels = model.generate_tensor(8, seed=3, traits={**chosen, "hair_color": "black"})
    changed = (labels != other_labels).any(dim=0)
    assert changed.tolist() == [name == "hair_color" for name in AVATAR_TRAITS]
    assert (images - other).abs().mean() > 0.01
