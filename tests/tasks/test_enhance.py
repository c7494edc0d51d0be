"""The enhance task: every photo tool trains end to end, resumes exactly, fine-tunes from a
model, exports a working pipeline, refuses bad configs, and an upscaler beats bicubic."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import ganforge
from ganforge import checkpoint as ckpt
from ganforge.errors import GanforgeError
from ganforge.pipelines import PIPELINES, EnhancePipeline
from ganforge.schema import apply_overrides
from ganforge.service import export
from ganforge.tasks import build_config
from ganforge.training import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")

TOOL_CONFIGS = {
    "upscale": {"scale": 2, "model": {"generator": "srnet", "g": {"width": 8, "depth": 2}}},
    "denoise": {"model": {"generator": "srnet", "g": {"width": 8, "depth": 2, "unshuffle": 2}}},
    "restore": {"scale": 2, "model": {"generator": "srnet", "g": {"width": 8, "depth": 2, "unshuffle": 2}}},
    "colorize": {"model": {"generator": "unet", "g": {"width": 4, "depth": 2},
                           "discriminator": "patchgan", "d": {"width": 8, "layers": 1}},
                 "loss": {"l1_weight": 10, "adversarial_weight": 1.0}},
}


def scene(rng: np.random.Generator, size: int = 96) -> Image.Image:
    """A synthetic 'photo': a colour gradient with a few filled shapes and thin lines (edges
    and flat areas, what an upscaler must get right)."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([x, y, 1 - x * y], -1) * rng.uniform(0.3, 1.0, 3) * 255
    img = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(5):
        x0, y0 = rng.integers(0, size - 20, 2)
        w, h = rng.integers(8, 40, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x0 + w, y0 + h), fill=colour)
    for _ in range(3):
        draw.line(tuple(int(v) for v in rng.integers(0, size, 4)), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    return img


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i in range(12):
        scene(rng).save(root / f"p{i:02d}.png")
    return root


def enhance_config(photo_dir, tool: str, overrides: dict | None = None):
    raw = {"task": "enhance", "name": f"tiny-{tool}", "tool": tool,
           "data": {"dataset": "photo-folder", "path": str(photo_dir), "resolution": 32, "channels": 3,
                    "crops_per_image": 4},
           "train": {"batch_size": 8, "kimg": 0.064, "log_every": 2, "sample_every_kimg": 0.032, "g_lr": 0.002,
                     "betas": [0.9, 0.99], "snapshot_every_kimg": 0.032, "keep_checkpoints": 2,
                     "ema_halflife_kimg": 0.01},
           "health": {"probe_every_kimg": 0}}
    raw = apply_overrides(raw, {})
    for key, value in TOOL_CONFIGS[tool].items():
        raw[key] = value
    return build_config(apply_overrides(raw, overrides or {}))


@pytest.mark.parametrize("tool", sorted(TOOL_CONFIGS))
def test_every_tool_trains_exports_and_applies(photo_dir, tmp_path, tool):
    run = tmp_path / "run"
    Trainer(enhance_config(photo_dir, tool), run, quiet=True).fit()
    files = sorted(p.name for p in ckpt.latest_checkpoint(run).iterdir())
    expected = ["G.safetensors", "G_ema.safetensors", "trainer_state.pt"]
    assert files == (sorted(["D.safetensors", *expected]) if tool == "colorize" else expected)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [e for e in log if "l1" in e and "event" not in e]
    assert steps and all(np.isfinite(e["l1"]) for e in steps)
    sample = np.asarray(Image.open(run / "samples" / "latest.png"))
    assert sample.ndim == 3 and sample.std() > 0

    pipe = ganforge.load(export(run, tmp_path / "model"))
    assert isinstance(pipe, EnhancePipeline) and pipe.tool.name == tool
    image = scene(np.random.default_rng(5), 40)
    out = pipe(image, tile=None)
    assert out.size == (40 * pipe.scale, 40 * pipe.scale) and out.mode == "RGB"


def test_gan_losses_are_logged_and_d_is_trained(photo_dir, tmp_path):
    cfg = enhance_config(photo_dir, "upscale", {
        "model.discriminator": "patchgan", "model.d": {"width": 8, "layers": 2, "norm": "none", "spectral_norm": True},
        "loss.adversarial_weight": 0.1, "loss.feature_weight": 0.5})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    d_before = {k: v.clone() for k, v in trainer.task.D.state_dict().items()}
    trainer.fit()
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    step = next(e for e in log if "loss_g_adv" in e)
    assert {"loss_d", "feature", "l1", "d_real", "d_fake"} <= set(step)
    changed = [k for k, v in trainer.task.D.state_dict().items() if not torch.equal(v, d_before[k])]
    assert changed  # the discriminator learned


def test_resumed_run_equals_uninterrupted_run(photo_dir, tmp_path):
    """Degradations come from the task's checkpointed random stream: a resumed run sees
    exactly the damage an uninterrupted one does, so the weights match bit for bit."""
    cfg = enhance_config(photo_dir, "denoise", {"train.kimg": 0.064, "train.snapshot_every_kimg": 0.032})
    Trainer(cfg, tmp_path / "full", quiet=True).fit()
    half = Trainer(cfg.model_copy(update={"train": cfg.train.model_copy(update={"kimg": 0.032})}),
                   tmp_path / "resumed", quiet=True)
    half.fit()
    Trainer(cfg, tmp_path / "resumed", resume=True, quiet=True).fit()
    full = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "full") / "G.safetensors")
    resumed = ckpt.load_weights(ckpt.latest_checkpoint(tmp_path / "resumed") / "G.safetensors")
    assert full.keys() == resumed.keys()
    assert all(torch.equal(full[k], resumed[k]) for k in full)


def test_init_from_starts_g_from_a_trained_model(photo_dir, tmp_path):
    run = tmp_path / "first"
    Trainer(enhance_config(photo_dir, "upscale"), run, quiet=True).fit()
    model = export(run, tmp_path / "model")
    source = ckpt.load_weights(model / "generator.safetensors")
    for i, init in enumerate((str(model), str(run))):  # an exported folder or a run folder
        trainer = Trainer(enhance_config(photo_dir, "upscale", {"init_from": init}), tmp_path / f"ft{i}", quiet=True)
        started = trainer.task.G.state_dict()
        assert all(torch.equal(started[k], source[k]) for k in source)
    with pytest.raises(GanforgeError, match="neither an exported model"):
        Trainer(enhance_config(photo_dir, "upscale", {"init_from": str(tmp_path)}), tmp_path / "bad", quiet=True)


@pytest.mark.parametrize("overrides, message", [
    ({"tool": "sharpen"}, "sharpen"),
    ({"scale": 3}, "scale 2 or 4, not 3"),
    ({"loss.feature_weight": 1.0}, "feature_weight needs a discriminator"),
    ({"loss.adversarial_weight": 1.0, "loss.name": "wgan-gp"}, "gradient penalty"),
])
def test_bad_configs_are_refused_in_one_line(photo_dir, overrides, message):
    with pytest.raises(GanforgeError, match=message) as err:
        enhance_config(photo_dir, "upscale", overrides)
    assert "\n" not in str(err.value)


def test_resolution_must_fit_the_scale(photo_dir, tmp_path):
    with pytest.raises(GanforgeError, match="multiple of 16 for scale 4"):
        Trainer(enhance_config(photo_dir, "upscale", {"scale": 4, "data.resolution": 40}), tmp_path / "r", quiet=True)


@pytest.mark.slow
def test_a_trained_upscaler_beats_bicubic_on_held_out_images(photo_dir, tmp_path):
    """~300 steps of L1 on bicubic-downscaled crops: the x2 model's PSNR on images it never saw
    must beat bicubic interpolation's (the residual network starts near bicubic)."""
    cfg = enhance_config(photo_dir, "upscale", {"train.kimg": 2.4, "train.snapshot_every_kimg": 2.4,
                                                "train.sample_every_kimg": 2.4, "train.g_lr": 0.003,
                                                "model.g": {"width": 16, "depth": 3}})
    Trainer(cfg, tmp_path / "run", quiet=True).fit()
    pipe = ganforge.load(tmp_path / "run")
    rng = np.random.default_rng(123)  # other scenes than training's seed 0
    gains = []
    for _ in range(4):
        hr = scene(rng, 96)
        lr = hr.resize((48, 48), Image.Resampling.BICUBIC)
        ref = np.asarray(hr, dtype=np.float64)
        ours = np.asarray(pipe(lr, tile=None), dtype=np.float64)
        bicubic = np.asarray(lr.resize((96, 96), Image.Resampling.BICUBIC), dtype=np.float64)
        psnr = [10 * np.log10(255**2 / np.mean((a[2:-2, 2:-2] - ref[2:-2, 2:-2]) ** 2)) for a in (ours, bicubic)]
        gains.append(psnr[0] - psnr[1])
    assert min(gains) > 0 and np.mean(gains) > 0.1, gains


@pytest.mark.parametrize("tool", ["upscale", "denoise"])
def test_evaluation_reports_psnr_beside_the_baseline(photo_dir, tmp_path, tool):
    """An untrained residual network is close to its baseline (bicubic, or the noisy input);
    the periodic evaluation reports both, so a run's log shows what training gained."""
    trainer = Trainer(enhance_config(photo_dir, tool), tmp_path / "run", quiet=True)
    task = trainer.task
    cache = {"held_out": task.pair(task.dataset.data[:16], torch.Generator().manual_seed(1))}
    scores, skipped = task.evaluate(tmp_path, metrics=["l1"], n=16, cache=cache, pipeline=PIPELINES.get(task.pipeline))
    assert skipped == [] and set(scores) == {"l1", "psnr", "psnr_baseline"}
    assert 10 < scores["psnr_baseline"] < 60
    assert abs(scores["psnr"] - scores["psnr_baseline"]) < 1.5, scores
    source, target = cache["held_out"]
    assert task.baseline(source, target).shape == target.shape
