"""End to end through the CLI: ganforge interpolate, mix and project on tiny exported models."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from ganforge import latent as L
from ganforge import load
from ganforge.cli import cli
from ganforge.service.latent import PROJECTION_FILES
from tests.test_cli import assert_one_line_error, run_cli
from tests.test_latent import bomb_png, tiny_pipe

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny exported models: conditional and unconditional dcgan, unconditional stylegan."""
    root = tmp_path_factory.mktemp("models")
    out = {}
    for name, family, conditional in (("cgan", "dcgan", True), ("dcgan", "dcgan", False), ("sg", "stylegan", False)):
        out[name] = str(tiny_pipe(family, conditional).save_pretrained(root / name))
    return out


def tiles(path, n_rows: int, n_cols: int, size: int = 32, pad: int = 2) -> np.ndarray:
    """Cut a PNG grid written with make_grid (and upscaled) back into (rows, cols, size, size) tiles."""
    img = np.asarray(Image.open(path).convert("L"))
    upscale = img.shape[1] // (n_cols * (size + pad) + pad)
    assert img.shape == (upscale * (n_rows * (size + pad) + pad), upscale * (n_cols * (size + pad) + pad))
    small = img[::upscale, ::upscale]
    return np.stack([[small[pad + r * (size + pad) :][:size, pad + c * (size + pad) :][:, :size]
                      for c in range(n_cols)] for r in range(n_rows)])


# ------------------------------------------------------------------------------- interpolate
def test_interpolate_gif(models, monkeypatch, capsys, tmp_path):
    out = tmp_path / "walk.gif"
    code, _, err = run_cli(monkeypatch, capsys, "interpolate", models["cgan"], "--seeds", "1,2,3", "--steps", 4,
                           "--class", "bag", "--fps", 10, "--out", out)
    assert code == 0, err
    gif = Image.open(out)
    assert gif.n_frames == 11 and gif.info["loop"] == 0 and gif.info["duration"] == 100
    assert gif.size == (256, 256)  # 32 px frames enlarged 8x for viewing
    expected = load(models["cgan"]).generate(1, classes="bag", seed=1)[0, ..., 0]
    gif.seek(0)
    assert np.array_equal(np.asarray(gif.convert("L"))[::8, ::8], expected)  # grey GIFs are lossless


def test_interpolate_png_grid_one_row_per_segment(models, monkeypatch, capsys, tmp_path):
    out = tmp_path / "walk.png"
    code, _, err = run_cli(monkeypatch, capsys, "interpolate", models["dcgan"], "--seeds", "0-2", "--steps", 3,
                           "--out", out)
    assert code == 0, err
    grid = tiles(out, 2, 5)
    frames = L.interpolate(load(models["dcgan"]), seeds=[0, 1, 2], steps=3)
    assert np.array_equal(grid[0], frames[:5, ..., 0]) and np.array_equal(grid[1], frames[4:, ..., 0])


@pytest.mark.parametrize("args, needles", [
    (["--seeds", "1,2", "--out", "walk.jpg"], ["FILE.png", "FILE.gif"]),
    (["--seeds", "1,x", "--out", "walk.png"], ["--seeds '1,x'", "5-8"]),
    (["--seeds", "5-2", "--out", "walk.png"], ["--seeds '5-2'"]),
    (["--seeds", "3", "--out", "walk.png"], ["at least two"]),
    (["--seeds", "1,2", "--space", "w", "--out", "walk.png"], ["has no mapping network; use --space z"]),
    (["--seeds", "1,2", "--class", "bag", "--out", "walk.png"], ["unconditional"]),
])
def test_interpolate_bad_input_writes_nothing(models, monkeypatch, capsys, tmp_path, args, needles):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(monkeypatch, capsys, "interpolate", models["dcgan"], *args)
    assert_one_line_error(code, err, *needles)
    assert code == 2 and list(tmp_path.iterdir()) == []


def test_interpolate_conditional_needs_a_class(models, monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "interpolate", models["cgan"], "--seeds", "1,2", "--out",
                           tmp_path / "w.gif")
    assert_one_line_error(code, err, "class-conditional", "--class", "sneaker", "ankle boot")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------- mix
def test_mix_grid(models, monkeypatch, capsys, tmp_path):
    out = tmp_path / "mix.png"
    code, _, err = run_cli(monkeypatch, capsys, "mix", models["sg"], "--rows", "1,2", "--cols", "3-5",
                           "--layers", "0-3", "--out", out)
    assert code == 0, err
    grid = tiles(out, 3, 4)
    pipe = load(models["sg"])
    assert (grid[0, 0] == 255).all()
    assert np.array_equal(grid[0, 1:], np.stack([pipe.generate(1, seed=s)[0, ..., 0] for s in (3, 4, 5)]))
    assert np.array_equal(grid[1:, 0], np.stack([pipe.generate(1, seed=s)[0, ..., 0] for s in (1, 2)]))
    mix = L.style_mix_images(pipe, row_seeds=[1, 2], col_seeds=[3, 4, 5], layers=range(4))
    assert np.array_equal(grid[1:, 1:], mix.cells[..., 0])


@pytest.mark.parametrize("model, args, needles", [
    ("dcgan", [], ["no mapping network"]),
    ("sg", ["--layers", "0-20"], ["style layer 9 does not exist"]),
    ("sg", ["--out", "mix.gif"], ["FILE.png"]),
    ("sg", ["--rows", "a"], ["--rows 'a'"]),
])
def test_mix_bad_input_writes_nothing(models, monkeypatch, capsys, tmp_path, model, args, needles):
    monkeypatch.chdir(tmp_path)
    base = {"--rows": "1", "--cols": "2", "--out": "mix.png"}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value
    code, _, err = run_cli(monkeypatch, capsys, "mix", models[model], *[x for kv in base.items() for x in kv])
    assert_one_line_error(code, err, *needles)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ project
@pytest.fixture(scope="module")
def target_png(models, tmp_path_factory):
    """An image the tiny stylegan itself made (seed 9), as a PNG file."""
    path = tmp_path_factory.mktemp("target") / "target.png"
    Image.fromarray(load(models["sg"]).generate(1, seed=9)[0, ..., 0]).save(path)
    return path


@pytest.mark.slow
def test_project_writes_latent_and_pictures(models, target_png, monkeypatch, capsys, tmp_path):
    out = tmp_path / "proj"
    code, stdout, err = run_cli(monkeypatch, capsys, "project", models["sg"], target_png, "--steps", 30, "--out", out,
                                "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(PROJECTION_FILES)
    assert "mse " in stdout and "psnr " in stdout and "w space" in stdout
    tensors, meta = L.load_projection(out / "projected_w.safetensors")
    assert meta["space"] == "w" and meta["model"] == models["sg"] and meta["steps"] == "30" and meta["class"] == ""
    assert tensors["latent"].shape == (16,) and tensors["ws"].shape == (9, 16)
    pipe = load(models["sg"])
    recon = np.asarray(Image.open(out / "reconstruction.png"))
    assert np.array_equal(recon, L.render_latent(pipe, tensors["latent"], space="w")[..., 0])
    assert np.array_equal(np.asarray(Image.open(out / "target.png")), np.asarray(Image.open(target_png)))
    mse = float(np.mean((recon / 255.0 - np.asarray(Image.open(target_png)) / 255.0) ** 2))
    assert f"mse {mse:.6f}" in stdout and float(meta["mse"]) == pytest.approx(mse)
    assert Image.open(out / "comparison.png").size == (8 * 70, 8 * 36)  # target | reconstruction, enlarged 8x


def test_project_conditional_z_space(models, monkeypatch, capsys, tmp_path):
    image = tmp_path / "coat.png"
    Image.fromarray(load(models["cgan"]).generate(1, classes="coat", seed=2)[0, ..., 0]).save(image)
    code, stdout, err = run_cli(monkeypatch, capsys, "project", models["cgan"], image, "--class", "4", "--steps", 5,
                                "--out", tmp_path / "p", "-q")
    assert code == 0, err
    _, meta = L.load_projection(tmp_path / "p" / "projected_w.safetensors")
    assert meta["space"] == "z" and meta["class"] == "coat" and meta["label"] == "4"


def test_project_refuses_a_non_empty_folder_unless_forced(models, target_png, monkeypatch, capsys, tmp_path):
    out = tmp_path / "proj"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    args = ("project", models["sg"], target_png, "--steps", 2, "--out", out, "-q")
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert_one_line_error(code, err, "not empty", "--force")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "--force")
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted([*PROJECTION_FILES, "notes.txt"])
    assert (out / "notes.txt").read_text() == "mine\n"


def test_project_bad_input_writes_nothing(models, target_png, monkeypatch, capsys, tmp_path):
    (tmp_path / "notes.png").write_bytes(b"a shopping list, not a picture\n" * 10)
    cases = [
        ("sg", tmp_path / "notes.png", [], ["notes.png: not an image"]),
        ("sg", bomb_png(tmp_path / "bomb.png", 5000, 5000), [], ["too large"]),
        ("sg", tmp_path / "missing.png", [], ["cannot read"]),
        ("dcgan", target_png, ["--space", "w"], ["has no mapping network; use --space z"]),
        ("cgan", target_png, [], ["class-conditional", "sneaker"]),
        ("sg", target_png, ["--class", "bag"], ["unconditional"]),
    ]
    for model, image, extra, needles in cases:
        code, _, err = run_cli(monkeypatch, capsys, "project", models[model], image, *extra, "--steps", 2,
                               "--out", tmp_path / "out", "-q")
        assert_one_line_error(code, err, *needles)
        assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------- help
@pytest.mark.parametrize("command, options", [
    ("interpolate", ["--seeds", "--steps", "--space", "--method", "--class", "--truncation", "--out", "--fps"]),
    ("mix", ["--rows", "--cols", "--layers", "--class", "--truncation", "--out"]),
    ("project", ["--space", "--steps", "--lr", "--class", "--seed", "--perceptual", "--out", "--force", "--threads",
                 "--quiet"]),
])
def test_help_explains_every_option(command, options):
    import click

    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    params = [p for p in cli.commands[command].params if isinstance(p, click.Option) and p.name != "help"]
    assert sorted(p.opts[0] for p in params) == sorted(options)  # every option is listed above
    for p in params:
        assert p.help and p.opts[0] in result.output
