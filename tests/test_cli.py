"""End to end through the CLI: train, generate, export, load, info, and every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

import ganforge
from ganforge.data import FASHION_CLASSES
from ganforge.images import make_grid
from ganforge.tasks.noise_to_image import NoiseToImageTask
from ganforge.cli import main
from ganforge import checkpoint as ckpt

TINY = {
    "name": "tiny",
    "data": {"dataset": "fashion-mnist", "resolution": 32, "limit": 512},
    "model": {"family": "dcgan", "conditional": True, "width": 8, "latent_dim": 16, "spectral_norm": True},
    "loss": {"name": "nonsaturating"},
    "train": {"batch_size": 16, "kimg": 0.48, "log_every": 10, "sample_every_kimg": 0.24, "snapshot_every_kimg": 0.24},
}


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``ganforge ARGS`` in-process through the real entry point."""
    monkeypatch.setattr(sys, "argv", ["ganforge", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *needles: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny conditional run (30 steps), shared by the tests below."""
    root = tmp_path_factory.mktemp("cli")
    cfg = root / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    mp = pytest.MonkeyPatch()
    mp.setattr(sys, "argv", ["ganforge", "train", str(cfg), "--run-dir", str(root / "run"), "--quiet"])
    try:
        main()
    finally:
        mp.undo()
    return root


@pytest.mark.slow
def test_train_writes_run_folder(trained):
    run = trained / "run"
    assert (run / "config.yaml").is_file() and (run / "log.jsonl").is_file()
    assert (run / "samples" / "latest.png").is_file()
    assert ckpt.latest_checkpoint(run).name == ckpt.checkpoint_name(30)
    assert "ganforge train" in json.loads((run / "run.json").read_text())["command"]


def test_generate_export_load_roundtrip(trained, monkeypatch, capsys, tmp_path):
    run = trained / "run"
    code, _, err = run_cli(monkeypatch, capsys, "generate", run, "-n", 20, "--seed", 3, "--out", tmp_path / "a.npz")
    assert code == 0, err
    arrays = np.load(tmp_path / "a.npz")
    assert arrays["images"].shape == (20, 32, 32, 1) and arrays["images"].dtype == np.uint8
    assert arrays["labels"].tolist() == [i // 2 for i in range(20)]  # --class defaults to all

    code, _, err = run_cli(monkeypatch, capsys, "export", run, tmp_path / "exported")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "exported").iterdir()) == ["README.md", "config.json", "generator.safetensors"]
    card = (tmp_path / "exported" / "README.md").read_text()
    assert "ganforge train" in card and "0.48 kimg" in card

    model = ganforge.load(tmp_path / "exported")
    np.testing.assert_array_equal(model.generate(20, classes="all", seed=3), arrays["images"])
    # The run folder and the export hold the same generator.
    np.testing.assert_array_equal(ganforge.load(run).generate(20, seed=3), arrays["images"])
    # Asking for more images never changes the first ones.
    np.testing.assert_array_equal(model.generate(70, classes="bag", seed=3)[:5], model.generate(5, classes="bag", seed=3))

    # save_pretrained from the API gives a loadable copy too.
    model.save_pretrained(tmp_path / "copy")
    np.testing.assert_array_equal(ganforge.load(tmp_path / "copy").generate(4, classes="bag"), model.generate(4, classes="bag"))


def test_generate_outputs(trained, monkeypatch, capsys, tmp_path):
    run = trained / "run"
    model = ganforge.load(run)
    # One class: a single row of 16 images of 32 px with 2 px white gaps, 16 * 34 + 2 = 546 by 36.
    code, _, err = run_cli(monkeypatch, capsys, "generate", run, "--class", "Sneaker", "-n", 16, "--out", tmp_path / "s.png")
    assert code == 0, err
    grid = np.asarray(Image.open(tmp_path / "s.png"))
    assert grid.shape == (36, 546)
    np.testing.assert_array_equal(grid[..., None], make_grid(model.generate(16, classes="sneaker", seed=0), 16))
    # Five images spread over the classes: a square-ish 3 x 2 grid (104 x 70), enlarged 512 // 104 = 4 times.
    code, _, err = run_cli(monkeypatch, capsys, "generate", run, "-n", 5, "--seed", 7, "--out", tmp_path / "five.png")
    assert code == 0, err
    grid = np.asarray(Image.open(tmp_path / "five.png"))
    assert grid.shape == (4 * 70, 4 * 104)
    np.testing.assert_array_equal(grid[::4, ::4, None], make_grid(model.generate(5, classes="all", seed=7), 3))
    # A folder: one PNG per image, named by seed, index and class, each holding that image.
    code, _, err = run_cli(monkeypatch, capsys, "generate", run, "--class", "bag", "-n", 3, "--seed", 2,
                           "--out", tmp_path / "dir")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "dir").iterdir())
    assert names == [f"seed2-00000{i}-bag.png" for i in range(3)]
    bags = model.generate(3, classes="bag", seed=2)
    for name, bag in zip(names, bags):
        np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "dir" / name)), bag[..., 0])
    assert not np.array_equal(bags[0], bags[1])
    code, out, err = run_cli(monkeypatch, capsys, "info", run, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["classes"] == list(FASHION_CLASSES) and info["classes"][7] == "sneaker"
    assert info["family"] == "dcgan" and info["conditional"] is True and info["latent_dim"] == 16


def test_unknown_class_name(trained, monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "generate", trained / "run", "--class", "sneakers", "-n", 4,
                           "--out", tmp_path / "x.png")
    assert_one_line_error(code, err, "unknown class 'sneakers'", "did you mean 'sneaker'", "ankle boot")
    assert not (tmp_path / "x.png").exists()


def test_bad_output_suffix(trained, monkeypatch, capsys, tmp_path):
    code, _, err = run_cli(monkeypatch, capsys, "generate", trained / "run", "--out", tmp_path / "x.jpg")
    assert_one_line_error(code, err, "FILE.png", "FILE.npz")
    assert not (tmp_path / "x.jpg").exists()


def test_unknown_model(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "generate", "fashion-cgam", "--out", "x.png")
    assert_one_line_error(code, err, "no model 'fashion-cgam'")


def test_unknown_config_key(monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    code, _, err = run_cli(monkeypatch, capsys, "train", cfg, "train.batchsize=8", "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, "unknown config key 'train.batchsize'", "batch_size")
    assert not (tmp_path / "run").exists()
    code, _, err = run_cli(monkeypatch, capsys, "train", cfg, "model.widht=8", "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, "unknown config key 'model.widht'", "width")
    code, _, err = run_cli(monkeypatch, capsys, "train", cfg, "train.precision=fp8", "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, "train.precision", "bf16")
    assert not (tmp_path / "run").exists()


def test_missing_fashion_mnist(monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    monkeypatch.setenv("GANFORGE_DATA_DIR", str(tmp_path / "nowhere"))
    code, _, err = run_cli(monkeypatch, capsys, "train", cfg, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, "apt-get install dataset-fashion-mnist")
    assert not (tmp_path / "run").exists()


def test_empty_image_folder(monkeypatch, capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({**TINY, "data": {"dataset": "folder", "path": str(tmp_path / "empty")}}))
    code, _, err = run_cli(monkeypatch, capsys, "train", cfg, "--run-dir", tmp_path / "run")
    assert_one_line_error(code, err, "empty")
    assert not (tmp_path / "run").exists()


def test_corrupted_checkpoint_files(trained, monkeypatch, capsys, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    last = ckpt.latest_checkpoint(run)
    weights = last / NoiseToImageTask.file_name("G_ema")
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    code, _, err = run_cli(monkeypatch, capsys, "generate", run, "--out", tmp_path / "g.png")
    assert_one_line_error(code, err, "corrupt", NoiseToImageTask.file_name("G_ema"))
    assert not (tmp_path / "g.png").exists()

    state = last / ckpt.STATE_FILE
    state.write_bytes(b"garbage that is not a torch file")
    before = sorted(p.name for p in last.iterdir())
    code, _, err = run_cli(monkeypatch, capsys, "train", "--resume", run, "train.kimg=1")
    assert_one_line_error(code, err, "corrupt")
    assert sorted(p.name for p in last.iterdir()) == before  # nothing written next to it


def test_resume_refuses_changing_the_training(trained, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "train", "--resume", trained / "run", "train.g_lr=0.1")
    assert_one_line_error(code, err, "train.g_lr", "train.kimg")


@pytest.mark.slow
def test_resume_continues_a_finished_run(trained, monkeypatch, capsys, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained / "run", run)
    code, _, err = run_cli(monkeypatch, capsys, "train", "--resume", run, "train.kimg=0.64", "--quiet")
    assert code == 0, err
    assert ckpt.latest_checkpoint(run).name == ckpt.checkpoint_name(40)
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["kimg"] == 0.64


def test_help_explains_every_option(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "generate", "--help")
    assert code == 0
    text = " ".join(out.split())  # click wraps lines at the terminal's width
    for phrase in (
        "Generate images with MODEL: a bundled name, an exported folder or a run folder.",
        "-n INTEGER RANGE number of images (or points) to generate [default: 64; 1<=x<=1000000]",
        "--seed INTEGER image i of seed s is the same whatever -n [default: 0]",
        "--class NAME|all class to draw for conditional models: a name (any case) or index; 'all' spreads -n evenly, a "
        "row per class; a,b,c: one class per image",
        "--truncation FLOAT truncation psi in [0, 1]: lower trades variety for typical-looking images [default: 1.0]",
        "--out PATH where to write: FILE.png (one grid; a scatter plot for 2D models), FILE.npz",
        "or a folder (one PNG per image; models with traits add traits.json: file name -> {trait: value}) "
        "(required unless --list-traits)",
        "--trait NAME=VALUE a trait's value in every image (repeatable: --trait hair_color=red --trait "
        "skin_color=light); traits left out are drawn at random per image, the same for the same --seed",
        "--list-traits print each trait of MODEL with its values, and stop",
        "--upscale [1|2|4] run the bundled photo upscaler (photo-upscale-x2 or -x4) on each image: 64 px -> 256 px "
        "with 4 [default: 1]",
        "--device [cpu|cuda] [default: cpu]",
    ):
        assert phrase in text, phrase


@pytest.mark.slow
def test_error_exit_code_without_traceback_in_a_real_process(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ganforge.cli", "train", str(tmp_path / "missing.yaml")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: config file") and "Traceback" not in proc.stderr


def test_generate_upscale_runs_the_bundled_upscaler_on_each_image(tmp_path):
    from PIL import Image

    from ganforge.service import generate

    small = generate("fashion-cgan", n=2, out=tmp_path / "small", seed=3, classes="sneaker")
    big = generate("fashion-cgan", n=2, out=tmp_path / "big", seed=3, classes="sneaker", upscale=2)
    assert (small.count, big.count) == (2, 2)
    for name in sorted(p.name for p in (tmp_path / "small").iterdir()):
        with Image.open(tmp_path / "small" / name) as a, Image.open(tmp_path / "big" / name) as b:
            assert b.size == (a.size[0] * 2, a.size[1] * 2) and b.mode == a.mode
            # the same picture, larger: its 2x2 averages are close to the small image
            down = np.asarray(b.convert("L").resize(a.size, Image.Resampling.BOX), dtype=float)
            assert np.abs(down - np.asarray(a.convert("L"), dtype=float)).mean() < 12


def test_generate_upscale_refuses_other_factors_before_writing(tmp_path):
    from ganforge.errors import GanforgeError
    from ganforge.service import generate

    with pytest.raises(GanforgeError, match="--upscale 3: use one of 1, 2, 4"):
        generate("fashion-cgan", n=2, out=tmp_path / "x.png", upscale=3)
    assert not (tmp_path / "x.png").exists()
