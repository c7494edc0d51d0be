"""The service layer: results, typed errors and progress reports, no printing."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

import ganforge
from ganforge import service
from ganforge.images import make_grid
from ganforge.config import config_to_dict
from ganforge.errors import GanforgeError

from .builders import tiny_config


def _preset(tmp_path, overrides=None):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(tiny_config({"train.kimg": 0.096, **(overrides or {})}))))
    return path


@pytest.mark.slow
def test_train_returns_the_run_and_reports_progress(tmp_path, capsys):
    events = []
    result = service.train(_preset(tmp_path), ["train.log_every=2"], run_dir=tmp_path / "run", quiet=True,
                           progress=events.append)
    assert result.run_dir == tmp_path / "run" and result.checkpoint.is_dir() and result.samples.is_file()
    assert result.is_main
    assert events and all(e.stage == "train" and e.unit == "img" and e.total == 96 for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events) and events[-1].done == 96
    assert "loss_d" in events[-1].info
    assert capsys.readouterr().out == ""  # the service never prints


@pytest.mark.slow
def test_resume_refuses_keys_that_change_training(tmp_path):
    service.train(_preset(tmp_path), run_dir=tmp_path / "run", quiet=True)
    with pytest.raises(GanforgeError, match="cannot change on resume"):
        service.train(None, ["train.g_lr=0.1"], resume=tmp_path / "run", quiet=True)
    with pytest.raises(GanforgeError, match="not a run folder"):
        service.train(None, resume=tmp_path / "nowhere", quiet=True)
    with pytest.raises(GanforgeError, match="CONFIG"):
        service.train(None, quiet=True)


def test_generate_refuses_a_bad_output_before_writing(tmp_path):
    with pytest.raises(GanforgeError, match="FILE.png"):
        service.generate("fashion-cgan", n=4, out=tmp_path / "x.jpg")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("n", "classes", "cols", "rows"),
    [(4, "bag", 4, 1),  # one class: one row
     (20, "all", 2, 10),  # two of each of the ten classes: a row per class
     (9, "all", 3, 3)],  # fewer than one per class: a square-ish grid
)
def test_generate_png_is_a_grid_of_the_models_images(tmp_path, n, classes, cols, rows):
    model = ganforge.load("fashion-cgan")
    h, w, c = model.generate(1, seed=0).shape[1:]
    events = []
    result = service.generate("fashion-cgan", n=n, out=tmp_path / "g.png", classes=classes, progress=events.append)
    assert (result.out, result.count, result.kind) == (tmp_path / "g.png", n, "image")
    assert [(e.stage, e.done, e.total, e.unit) for e in (events[0], events[-1])] == [("generate", 0, n, "img"),
                                                                                    ("generate", n, n, "img")]
    grid = np.asarray(Image.open(result.out))
    width, height = cols * (w + 2) + 2, rows * (h + 2) + 2  # 2 px gaps around every image
    scale = max(1, 512 // max(width, height))  # small grids are enlarged for viewing
    assert grid.shape == (height * scale, width * scale) and c == 1
    expected = make_grid(model.generate(n, classes=classes, seed=0), cols)[..., 0]
    np.testing.assert_array_equal(grid[::scale, ::scale], expected)


def test_generate_is_deterministic_per_seed(tmp_path):
    def pixels(name: str, seed: int) -> np.ndarray:
        service.generate("fashion-cgan", n=6, out=tmp_path / name, classes="all", seed=seed)
        return np.asarray(Image.open(tmp_path / name))

    first, again, other = pixels("a.png", 5), pixels("b.png", 5), pixels("c.png", 6)
    np.testing.assert_array_equal(first, again)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert other.shape == first.shape and (other != first).mean() > 0.1  # another seed: other pictures


def test_generate_npz_labels_are_the_requested_class(tmp_path):
    model = ganforge.load("fashion-cgan")
    service.generate("fashion-cgan", n=6, out=tmp_path / "s.npz", classes="sneaker", seed=3)
    with np.load(tmp_path / "s.npz") as arrays:
        assert sorted(arrays.files) == ["images", "labels"]
        assert arrays["labels"].dtype == np.int64 and arrays["labels"].tolist() == [7] * 6  # sneaker is class 7
        assert arrays["images"].shape == (6, 32, 32, 1) and arrays["images"].dtype == np.uint8
        np.testing.assert_array_equal(arrays["images"], model.generate(6, classes="sneaker", seed=3))
    service.generate("fashion-cgan", n=20, out=tmp_path / "all.npz", classes="all")
    with np.load(tmp_path / "all.npz") as arrays:
        assert arrays["labels"].tolist() == [i // 2 for i in range(20)]  # 'all': two of each class, in order


def test_describe_and_export_errors(tmp_path):
    d = service.describe("fashion-cgan")
    assert d["task"] == "noise-to-image" and d["pipeline"] == "generation" and d["family"] == "dcgan"
    with pytest.raises(GanforgeError, match="not a run folder"):
        service.export(tmp_path, tmp_path / "out")
    with pytest.raises(GanforgeError, match="no model 'nope'"):
        service.describe("nope")
