"""The unpaired (CycleGAN) task: config, training end to end, resume, export, the image pool and
the unpaired loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganforge
from ganforge import checkpoint as ckpt
from ganforge.config import DataConfig
from ganforge.data import build_dataset
from ganforge.data.loader import InMemoryLoader
from ganforge.errors import GanforgeError
from ganforge.pipelines import StylePipeline
from ganforge.service import apply, export
from ganforge.tasks import load_config
from ganforge.tasks.unpaired import ImagePool, cycle_scores
from ganforge.training import Trainer

from ..builders import tiny_unpaired_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CycleGAN run (48 steps), shared by the tests that need trained weights."""
    run = tmp_path_factory.mktemp("unpaired") / "run"
    Trainer(tiny_unpaired_config({"train.kimg": 0.384}), run, quiet=True).fit()
    return run


@pytest.mark.slow
def test_unpaired_task_reconstructs_held_out_images_through_the_cycle(trained):
    pipe = ganforge.load(trained)
    assert isinstance(pipe, StylePipeline)
    held = build_dataset(pipe.config.data.model_copy(update={"split": "test", "limit": 100}))
    g_ba = pipe.config.model.build("generator")
    ckpt.load_into(g_ba, ckpt.latest_checkpoint(trained) / "G_BA.safetensors")
    scores = cycle_scores(pipe.network, g_ba, held.a, held.b)
    # The trivial baseline: every image replaced by its side's mean image. Untrained generators
    # score ~0.4, far above it; after 48 steps the round trip must keep more than the mean does.
    assert scores["cycle_l1"] < 0.9 * scores["l1_mean_image"], scores
    assert scores["change_l1"] > 0.01, scores  # G_AB does something to its input
    log = [json.loads(line) for line in (trained / "log.jsonl").read_text().splitlines()]
    cycle = [e["cycle"] for e in log if "cycle" in e and "event" not in e]
    assert cycle[-1] < cycle[0]  # the cycle loss fell during training


@pytest.mark.slow
def test_unpaired_run_writes_checkpoints_samples_and_exports(trained, tmp_path):
    last = ckpt.latest_checkpoint(trained)
    assert sorted(p.name for p in last.iterdir()) == ["D_A.safetensors", "D_B.safetensors", "G_AB.safetensors",
                                                      "G_AB_ema.safetensors", "G_BA.safetensors", "trainer_state.pt"]
    sample = np.asarray(Image.open(trained / "samples" / "latest.png"))
    assert sample.ndim == 3 and sample.std() > 0  # a | G_AB(a) | G_BA(G_AB(a)) rows, not blank
    out = export(trained, tmp_path / "model")
    info = json.loads((out / "config.json").read_text())
    assert info["pipeline"] == "style" and info["config"]["task"] == "unpaired"
    pipe, run_pipe = ganforge.load(out), ganforge.load(trained)
    image = np.random.default_rng(0).integers(0, 256, (21, 37, 3), dtype=np.uint8)  # any size, odd sides
    a, b = pipe(image), run_pipe(image)
    assert a.size == (37, 21) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))  # the export is the run's averaged G_AB
    # ganforge apply, on a file and a folder
    (tmp_path / "in").mkdir()
    Image.fromarray(image).save(tmp_path / "in" / "photo.png")
    result = apply(out, [tmp_path / "in"], out=tmp_path / "styled")
    assert [p.name for p in result.written] == ["photo.png"] and not result.failed
    assert np.array_equal(np.asarray(Image.open(tmp_path / "styled" / "photo.png")), np.asarray(a))


@pytest.mark.slow
def test_unpaired_resume_equals_uninterrupted(tmp_path):
    # pool_size 4 < the 16 images 2 steps make: the resumed run must carry the pool and its draws.
    cfg = tiny_unpaired_config({"train.kimg": 0.064, "train.snapshot_every_kimg": 0.032, "loss.pool_size": 4,
                                "data.limit": 64, "model.g.blocks": 1})
    Trainer(cfg, tmp_path / "a", quiet=True).fit()
    first = Trainer(cfg, tmp_path / "b", quiet=True)
    first.run_steps(4 * 8)
    first.snapshot()
    first.logger.close()
    Trainer(cfg, tmp_path / "b", resume=True, quiet=True).fit()
    for name in ("G_AB", "G_BA", "G_AB_ema", "D_A", "D_B"):
        wa = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "a") / f"{name}.safetensors")
        wb = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "b") / f"{name}.safetensors")
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_unpaired_config_fills_channels_and_builds_four_networks(tmp_path):
    trainer = Trainer(tiny_unpaired_config({"data.limit": 16}), tmp_path / "r", quiet=True)
    g, d = trainer.cfg.model.g, trainer.cfg.model.d
    assert (g["in_channels"], g["out_channels"], d["in_channels"]) == (3, 3, 3)
    assert set(trainer.task.networks) == {"G_AB", "G_BA", "G_AB_ema", "D_A", "D_B"}
    assert set(trainer.task.optimizers) == {"G", "D_A", "D_B"}
    opt = trainer.task.optimizers["G"][0]  # one optimiser over both generators
    assert sum(p.numel() for group in opt.param_groups for p in group["params"]) == sum(
        p.numel() for net in (trainer.task.G_AB, trainer.task.G_BA) for p in net.parameters())
    trainer.logger.close()


def test_the_preset_is_the_papers_recipe():
    cfg = load_config("configs/shapes-cyclegan.yaml")
    assert (cfg.task, cfg.model.generator, cfg.model.discriminator, cfg.loss.name) == ("unpaired", "resnet", "patchgan", "lsgan")
    assert (cfg.loss.cycle_weight, cfg.loss.identity, cfg.loss.pool_size) == (10, 0.5, 50)
    assert (cfg.train.g_lr, cfg.train.d_lr, cfg.train.betas[0]) == (2e-4, 2e-4, 0.5)
    assert (cfg.train.lr_decay, cfg.train.lr_decay_start) == ("linear", 0.5)


@pytest.mark.parametrize("override, words", [
    ({"model.g.colour": 3}, ["model.g.colour", "blocks"]),
    ({"model.generator": "patchgan"}, ["discriminator", "resnet"]),
    ({"model.g.upsample": "pixelshuffle"}, ["upsample"]),
    ({"loss.name": "wgan-gp"}, ["gradient penalty", "lsgan"]),
    ({"loss.cycle_weight": -1}, ["loss.cycle_weight"]),
    ({"loss.pool_size": -1}, ["loss.pool_size"]),
    ({"loss.cycles": 10}, ["loss.cycles", "cycle_weight"]),
])
def test_unpaired_config_errors_are_one_line(override, words):
    with pytest.raises(GanforgeError) as err:
        tiny_unpaired_config(override)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


@pytest.mark.parametrize("override, words", [
    ({"data.dataset": "shapes-edges"}, ["unpaired", "pairs", "shapes-edges"]),
    ({"data.dataset": "fashion-mnist"}, ["unpaired", "images", "fashion-mnist"]),
    ({"model.g.in_channels": 1}, ["model.g.in_channels=1", "does not match the data"]),
])
def test_unpaired_task_refuses_data_it_cannot_train_on(tmp_path, override, words):
    with pytest.raises(GanforgeError) as err:
        Trainer(tiny_unpaired_config(override), tmp_path / "r", quiet=True)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_image_pool_fills_then_swaps_half_the_time():
    noise = torch.Generator().manual_seed(0)
    pool = ImagePool(4, noise)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and torch.equal(pool.images, first)  # filling: returned as is
    new = torch.arange(100.0, 400.0).view(300, 1, 1, 1)
    out = pool.query(new)
    from_pool = (out.flatten() != new.flatten()).float().mean()
    assert 0.4 < float(from_pool) < 0.6  # about half the images come from the history
    assert set(out.flatten().tolist()) <= set(new.flatten().tolist()) | set(range(4))
    assert torch.equal(ImagePool(0, noise).query(new), new)  # size 0: no history


def test_shapes_unpaired_sides_are_independent_and_seeded():
    cfg = DataConfig(dataset="shapes-unpaired", resolution=16, channels=3, limit=20)
    ds, again = build_dataset(cfg), build_dataset(cfg.model_copy(update={"limit": 30}))
    assert ds.a.shape == ds.b.shape == (20, 3, 16, 16) and ds.a.dtype == torch.uint8
    assert torch.equal(ds.a, again.a[:20]) and torch.equal(ds.b, again.b[:20])  # limit keeps a prefix
    test = build_dataset(cfg.model_copy(update={"split": "test"}))
    assert not torch.equal(ds.a, test.a) and not torch.equal(ds.a, ds.b)
    grey = build_dataset(cfg.model_copy(update={"channels": 1}))
    assert grey.a.shape == (20, 1, 16, 16)


def test_loader_orders_unpaired_sides_independently_and_resumes():
    a = torch.arange(12, dtype=torch.float32).view(12, 1)
    b = torch.arange(100, 120, dtype=torch.float32).view(20, 1)  # sides of different sizes
    groups = [("a",), ("b",)]
    loader = InMemoryLoader({"a": a, "b": b}, batch_size=4, seed=0, device=torch.device("cpu"), groups=groups)
    batches = [loader.next() for _ in range(3)]
    seen_a = torch.cat([x["a"] for x in batches]).flatten().tolist()
    assert sorted(seen_a) == list(range(12))  # side A: one epoch in 3 batches
    pairs = {(int(x["a"][i]), int(x["b"][i])) for x in batches for i in range(4)}
    state = loader.state_dict()
    assert set(state) == {"streams"} and state["streams"][0] == {"epoch": 0, "position": 12}
    following = loader.next()
    resumed = InMemoryLoader({"a": a, "b": b}, batch_size=4, seed=0, device=torch.device("cpu"), groups=groups)
    resumed.load_state_dict(state)
    again = resumed.next()
    assert all(torch.equal(following[k], again[k]) for k in ("a", "b"))
    # B's order is not A's: a b image does not ride along with the a image of the same row
    assert len({b_ for _, b_ in pairs}) == 12 and pairs != {(i, 100 + i) for i in range(12)}
    with pytest.raises(ValueError, match="exactly once"):
        InMemoryLoader({"a": a, "b": b}, batch_size=4, seed=0, device=torch.device("cpu"), groups=[("a",)])
    with pytest.raises(GanforgeError, match="examples in b"):
        InMemoryLoader({"a": a, "b": b[:3]}, batch_size=4, seed=0, device=torch.device("cpu"), groups=groups)
