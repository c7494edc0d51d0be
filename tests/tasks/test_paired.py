"""The paired (pix2pix) task: config, training end to end, resume, export and the image-to-image pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge import checkpoint as ckpt
from ganforge.data import build_dataset
from ganforge.errors import GanforgeError
from ganforge.metrics.paired import paired_scores
from ganforge.pipelines import ImageToImagePipeline
from ganforge.service import apply, export
from ganforge.training import Trainer

from ..builders import tiny_paired_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny pix2pix run (48 steps), shared by the tests that need trained weights."""
    run = tmp_path_factory.mktemp("paired") / "run"
    cfg = tiny_paired_config({"train.kimg": 0.384})
    Trainer(cfg, run, quiet=True).fit()
    return run


@pytest.mark.slow
def test_paired_task_beats_the_identity_mapping_on_held_out_pairs(trained):
    pipe = ganforge.load(trained)
    assert isinstance(pipe, ImageToImagePipeline)
    held = build_dataset(pipe.config.data.model_copy(update={"split": "test", "limit": 200}))
    train_names = set(build_dataset(pipe.config.data).names)
    assert not train_names & set(held.names)  # held out: never trained on
    scores = paired_scores(pipe.network, held.source, held.target)
    # Edges on black vs light shapes: the identity mapping is far off; a trained G must do better.
    assert scores["l1"] < scores["l1_identity"]
    assert scores["l1"] < 0.5 * scores["l1_identity"], scores
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    l1 = [e["l1"] for e in log if "l1" in e and "event" not in e]
    assert l1[-1] < l1[0]  # the reconstruction loss fell during training


@pytest.mark.slow
def test_paired_run_writes_checkpoints_samples_and_exports(trained, tmp_path):
    last = ckpt.latest_checkpoint(trained)
    assert sorted(p.name for p in last.iterdir()) == ["D.safetensors", "G.safetensors", "G_ema.safetensors",
                                                      "trainer_state.pt"]
    sample = np.asarray(Image.open(trained / "samples" / "latest.png"))
    assert sample.ndim == 3 and sample.std() > 0  # source | output | target rows, not blank
    out = export(trained, tmp_path / "model")
    info = json.loads((out / "config.json").read_text())
    assert info["pipeline"] == "image-to-image" and info["config"]["task"] == "paired"
    pipe = ganforge.load(out)
    run_pipe = ganforge.load(trained)
    image = np.random.default_rng(0).integers(0, 256, (21, 37), dtype=np.uint8)  # any size, grey
    a, b = pipe(image), run_pipe(image)
    assert a.size == (37, 21) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))  # the export is the run's EMA generator
    assert "paired" in (out / "README.md").read_text()


@pytest.mark.slow
def test_image_to_image_pipeline_inputs(trained):
    pipe = ganforge.load(trained)
    grey = Image.fromarray(np.full((16, 16), 255, np.uint8))
    rgb = grey.convert("RGB")
    # An RGB input to a 1-channel-source model is converted to grey: the same result.
    assert np.array_equal(np.asarray(pipe(grey)), np.asarray(pipe(rgb)))
    assert np.array_equal(np.asarray(pipe(np.asarray(grey))), np.asarray(pipe(grey)))
    with pytest.raises(GanforgeError, match="uint8"):
        pipe(np.zeros((8, 8), np.float32))
    with pytest.raises(GanforgeError, match="PIL image"):
        pipe("not an image")


@pytest.mark.slow
def test_service_apply_writes_outputs_and_reports_bad_files(trained, tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((16, 24), np.uint8)).save(src / "a.png")
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(src / "sub" / "b.jpg")
    (src / "broken.png").write_bytes(b"not a png")
    result = apply(trained, [src], out=tmp_path / "out")
    # Each output keeps its input's name and format.
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in result.written) == ["a.png", "sub/b.jpg"]
    assert [p for p, _ in result.failed] == [str(src / "broken.png")]
    assert result.failed[0][1].startswith("not an image (accepted formats: ")
    assert Image.open(tmp_path / "out" / "a.png").size == (24, 16)
    assert Image.open(tmp_path / "out" / "sub" / "b.jpg").format == "JPEG"
    assert not (tmp_path / "out" / "broken.png").exists()  # nothing half-written for the bad file
    with pytest.raises(GanforgeError, match="^'fashion-cgan' is a generation model; apply needs a photo "
                                            r"\(enhance\), style or image-to-image model"):
        apply("fashion-cgan", [src], out=tmp_path / "x")
    with pytest.raises(GanforgeError, match="^noise_level is not an option of this model; it takes no options$"):
        apply(trained, [src], out=tmp_path / "y", noise_level=10)
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.slow
def test_paired_resume_equals_uninterrupted(tmp_path):
    cfg = tiny_paired_config({"train.kimg": 0.128, "train.snapshot_every_kimg": 0.064})
    Trainer(cfg, tmp_path / "a", quiet=True).fit()
    first = Trainer(cfg, tmp_path / "b", quiet=True)
    first.run_steps(8 * 8)
    first.snapshot()
    first.logger.close()
    Trainer(cfg, tmp_path / "b", resume=True, quiet=True).fit()
    for name in ("G.safetensors", "G_ema.safetensors", "D.safetensors"):
        wa = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "a") / name)
        wb = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "b") / name)
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_paired_config_fills_channels_from_the_data(tmp_path):
    trainer = Trainer(tiny_paired_config(), tmp_path / "r", quiet=True)
    g, d = trainer.cfg.model.g, trainer.cfg.model.d
    assert (g["in_channels"], g["out_channels"], d["in_channels"]) == (1, 3, 4)
    assert set(trainer.task.networks) == {"G", "G_ema", "D"}
    trainer.logger.close()


@pytest.mark.parametrize("override, words", [
    ({"model.g.colour": 3}, ["model.g.colour", "width"]),
    ({"model.generator": "patchgan"}, ["discriminator", "unet"]),
    ({"model.discriminator": "nope"}, ["nope", "patchgan"]),
    ({"loss.name": "wgan-gp"}, ["gradient penalty", "hinge"]),
    ({"loss.l1_weight": -1}, ["loss.l1_weight"]),
    ({"model.g.width": "wide"}, ["width"]),
])
def test_paired_config_errors_are_one_line(override, words):
    with pytest.raises(GanforgeError) as err:
        tiny_paired_config(override)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_channels_that_contradict_the_data_are_refused(tmp_path):
    with pytest.raises(GanforgeError, match="does not match the data"):
        Trainer(tiny_paired_config({"model.g.in_channels": 3}), tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()  # refused before anything was written


@pytest.mark.parametrize("task_override, data, words", [
    ({}, {"data.dataset": "fashion-mnist"}, ["paired", "pairs", "fashion-mnist"]),
])
def test_a_task_refuses_data_it_cannot_train_on(tmp_path, task_override, data, words):
    with pytest.raises(GanforgeError) as err:
        Trainer(tiny_paired_config({**task_override, **data}), tmp_path / "r", quiet=True)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not (tmp_path / "r").exists()


def test_noise_to_image_refuses_paired_data(tmp_path):
    from ..builders import tiny_config

    with pytest.raises(GanforgeError, match="noise-to-image trains on images or vectors"):
        Trainer(tiny_config({"data.dataset": "shapes-edges", "data.channels": 1}), tmp_path / "r", quiet=True)
