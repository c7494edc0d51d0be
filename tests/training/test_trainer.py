"""The Trainer's run folder, checkpoints, logging and failure handling."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ganforge.tasks.noise_to_image import NoiseToImageTask
from ganforge.errors import GanforgeError
from ganforge.training import Trainer, TrainingDiverged
from ganforge.training.schedules import ema_beta, lr_factor
from ganforge import checkpoint as ckpt
from ganforge.tasks import noise_to_image as trainer_module

from .conftest import tiny_config


@pytest.mark.slow
def test_run_folder_contents(tmp_path):
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(), run, quiet=True)
    trainer.fit()
    # Resolved config: data-derived fields filled in, reloadable.
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["model"]["num_classes"] == 10 and cfg["model"]["output_shape"] == [1, 32, 32]
    # log.jsonl: one line per log interval with the promised fields.
    lines = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [e for e in lines if "step" in e]
    assert [e["step"] for e in steps] == [5, 10, 15, 20]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "img_per_s", "r1"):
        assert all(np.isfinite(e[key]) for e in steps if key in e), key
        assert any(key in e for e in steps), key
    # Sample grids: one row per class (10 rows of 10).
    grid = Image.open(run / "samples" / "latest.png")
    assert grid.size[1] == grid.size[0]  # 10 x 10 tiles
    # Checkpoints: only the newest `keep_checkpoints`, no temporary folders left.
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == [ckpt.checkpoint_name(10), ckpt.checkpoint_name(20)]
    for name in names:
        files = sorted(p.name for p in (run / "checkpoints" / name).iterdir())
        assert files == sorted([NoiseToImageTask.file_name("D"), NoiseToImageTask.file_name("G"), NoiseToImageTask.file_name("G_ema"), ckpt.STATE_FILE])
    assert json.loads((run / "run.json").read_text())["class_names"][7] == "sneaker"


@pytest.mark.slow
def test_trainer_state_loads_with_weights_only(tmp_path):
    Trainer(tiny_config({"train.kimg": 0.08}), tmp_path / "r", quiet=True).fit()
    state = torch.load(ckpt.latest_checkpoint(tmp_path / "r") / ckpt.STATE_FILE, weights_only=True)
    assert state["step"] == 5 and state["images"] == 80
    assert set(state) >= {"g_opt", "d_opt", "loader", "noise", "torch_rng", "numpy_rng", "python_rng"}


@pytest.mark.slow
def test_ema_lags_generator(tmp_path):
    trainer = Trainer(tiny_config({"train.kimg": 0.08, "train.ema_halflife_kimg": 10}), tmp_path / "r", quiet=True)
    before = [p.clone() for p in trainer.task.G_ema.parameters()]
    trainer.fit()
    g, ema = list(trainer.task.G.parameters()), list(trainer.task.G_ema.parameters())
    moved = sum(float((e - b).abs().sum()) for e, b in zip(ema, before))
    apart = sum(float((e - p.detach()).abs().sum()) for e, p in zip(ema, g))
    assert moved > 0 and apart > 0  # EMA follows G, slowly


def test_existing_run_folder_is_refused(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("mine")
    with pytest.raises(GanforgeError, match="already exists"):
        Trainer(tiny_config(), run, quiet=True)
    assert sorted(p.name for p in run.iterdir()) == ["keep.txt"]


@pytest.mark.slow
def test_divergence_stops_with_step_and_last_checkpoint(tmp_path):
    cfg = tiny_config({"train.kimg": 3.2, "train.snapshot_every_kimg": 0.08, "train.d_lr": 1e30,
                       "train.g_lr": 1e30, "model.spectral_norm": False, "loss.r1_gamma": 0.0})
    trainer = Trainer(cfg, tmp_path / "r", quiet=True)
    with pytest.raises(TrainingDiverged) as info:
        trainer.fit()
    msg = str(info.value)
    assert "\n" not in msg
    assert f"at step {trainer.step}" in msg
    assert trainer.step < 200  # stopped early, not at the end of the run
    # Every checkpoint left behind holds finite weights.
    for path in ckpt.list_checkpoints(tmp_path / "r"):
        for name in (NoiseToImageTask.file_name("G"), NoiseToImageTask.file_name("D"), NoiseToImageTask.file_name("G_ema")):
            assert all(torch.isfinite(t).all() for t in ckpt.load_weights(path / name).values())
    if trainer.last_good is not None:
        assert str(trainer.last_good) in msg


@pytest.mark.slow
def test_unconditional_model_on_conditional_data_and_vice_versa(tmp_path):
    Trainer(tiny_config({"model.conditional": False, "train.kimg": 0.032}), tmp_path / "u", quiet=True).fit()
    with pytest.raises(GanforgeError, match="needs labelled data"):
        Trainer(tiny_config({"data.dataset": "ring8", "model.family": "mlp", "model.width": 16}), tmp_path / "c", quiet=True)
    assert not (tmp_path / "c").exists()


def test_toy_run_writes_scatter_plot(tmp_path):
    cfg = tiny_config({"data.dataset": "ring8", "data.toy_samples": 1000, "model": {"family": "mlp", "width": 16,
                       "depth": 2, "latent_dim": 2, "pack": 2}, "loss.r1_gamma": 0.0, "train.kimg": 0.064})
    Trainer(cfg, tmp_path / "t", quiet=True).fit()
    img = Image.open(tmp_path / "t" / "samples" / "latest.png")
    assert img.mode == "RGB" and img.size == (512, 512)


@pytest.mark.slow
def test_skipped_files_are_logged(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    cfg = tiny_config({"data": {"dataset": "folder", "path": str(folder), "resolution": 28, "channels": 3},
                       "model.conditional": False, "train.kimg": 0.032})
    with pytest.warns(UserWarning, match="broken.png"):
        Trainer(cfg, tmp_path / "r", quiet=True).fit()
    events = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    skipped = [e for e in events if e.get("event") == "skipped_files"]
    assert skipped and skipped[0]["count"] == 1 and skipped[0]["files"][0]["path"].endswith("broken.png")


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_on_cpu(tmp_path, precision):
    trainer = Trainer(tiny_config({"train.precision": precision, "train.kimg": 0.08}), tmp_path / "r", quiet=True)
    assert trainer.task.scalers["D"].is_enabled() is (precision == "fp16")
    trainer.fit()
    lines = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert lines and all(np.isfinite(e["loss_d"]) and np.isfinite(e["loss_g"]) for e in lines if "step" in e)
    # The weights themselves stay fp32; only the arithmetic inside autocast is lower precision.
    assert all(p.dtype == torch.float32 for p in trainer.task.G.parameters())


def _norm_of_grads(net: torch.nn.Module) -> float:
    return math.sqrt(sum(float(p.grad.double().square().sum()) for p in net.parameters() if p.grad is not None))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_logged_numbers_are_window_means_of_the_steps_that_made_them(tmp_path, precision):
    """log.jsonl: grad_norm_d/g are the mean over the log window of each loss step's
    (unscaled) gradient norm, measured here straight from the .grad tensors; R1 steps are not
    mixed in; fp16 steps the GradScaler skipped are left out; r1 is the mean over the steps
    that took R1 (every 3rd), not over all steps."""
    cfg = tiny_config({"train.precision": precision, "loss.r1_interval": 3, "loss.r1_gamma": 10.0})
    trainer = Trainer(cfg, tmp_path / "r", quiet=True)
    seen: dict[str, dict[int, float]] = {"d": {}, "g": {}, "r1_grad": {}, "r1": {}}
    d_step, g_step, r1_step = trainer.task.discriminator_step, trainer.task.generator_step, trainer.task.regularize

    def wrap(step, key, net):
        def wrapped(*args):
            out = step(*args)
            seen[key][trainer.step] = _norm_of_grads(net)
            if "r1" in out:
                seen["r1"][trainer.step] = float(out["r1"])
            return out
        return wrapped

    trainer.task.discriminator_step = wrap(d_step, "d", trainer.task.D)
    trainer.task.generator_step = wrap(g_step, "g", trainer.task.G)
    trainer.task.regularize = wrap(r1_step, "r1_grad", trainer.task.D)
    trainer.fit()
    logged = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    logged = [e for e in logged if "step" in e]
    every = cfg.train.log_every
    assert [e["step"] for e in logged] == [5, 10, 15, 20] and sorted(seen["r1"]) == [0, 3, 6, 9, 12, 15, 18]

    def mean(key, window):
        values = [v for i, v in seen[key].items() if i in window and math.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")

    for entry in logged:
        window = range(entry["step"] - every, entry["step"])
        assert entry["grad_norm_d"] == pytest.approx(mean("d", window), rel=1e-4, nan_ok=True)
        assert entry["grad_norm_g"] == pytest.approx(mean("g", window), rel=1e-4, nan_ok=True)
        assert entry["r1"] == pytest.approx(mean("r1", window), rel=1e-4)
    # Step 9 took R1 last in its window: the gradient left in D.grad at log time is R1's,
    # and it is not what was logged.
    assert math.isfinite(seen["r1_grad"][9])
    assert logged[1]["grad_norm_d"] != pytest.approx(seen["r1_grad"][9], rel=1e-2)
    if precision == "fp32":
        assert all(math.isfinite(e["grad_norm_d"]) and math.isfinite(e["grad_norm_g"]) for e in logged)
    else:  # the GradScaler starts at 65536 and overflows: those steps are the ones left out
        assert any(not math.isfinite(v) for v in (*seen["d"].values(), *seen["g"].values()))


@pytest.mark.slow
def test_mode_seeking_pairs_same_class_samples_in_the_g_step_and_is_logged(tmp_path, monkeypatch):
    trainer = Trainer(tiny_config({"loss.mode_seeking": 0.5, "train.kimg": 0.08}), tmp_path / "r", quiet=True)
    calls, penalties = [], []
    forward, real_penalty = trainer.task.G.forward, trainer_module.mode_seeking_penalty
    with monkeypatch.context() as patch:
        patch.setattr(trainer.task.G, "forward", lambda z, y=None, **kw: calls.append((z, y)) or forward(z, y, **kw))
        patch.setattr(trainer_module, "mode_seeking_penalty",
                      lambda fake, z: penalties.append(real_penalty(fake, z)) or penalties[-1])
        out = trainer.task.generator_step()
    (z, y), half = calls[-1], trainer.local_batch // 2
    assert torch.equal(y[:half], y[half:]) and not torch.equal(z[:half], z[half:])
    assert out["mode_seeking"] == penalties[0].detach() and float(out["mode_seeking"]) > 0
    trainer.fit()
    logged = [json.loads(x) for x in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(e["mode_seeking"]) and e["mode_seeking"] > 0 for e in logged if "step" in e)


def test_without_mode_seeking_the_g_batch_labels_are_not_paired(tmp_path, monkeypatch):
    trainer = Trainer(tiny_config({"train.kimg": 0.08}), tmp_path / "r", quiet=True)
    calls = []
    forward = trainer.task.G.forward
    monkeypatch.setattr(trainer.task.G, "forward", lambda z, y=None, **kw: calls.append(y) or forward(z, y, **kw))
    out = trainer.task.generator_step()
    half = trainer.local_batch // 2
    assert not torch.equal(calls[-1][:half], calls[-1][half:]) and "mode_seeking" not in out


def test_mode_seeking_with_a_batch_of_one_is_a_one_line_error(tmp_path):
    with pytest.raises(GanforgeError, match="loss.mode_seeking > 0 pairs the samples") as err:
        Trainer(tiny_config({"loss.mode_seeking": 1.0, "train.batch_size": 1}), tmp_path / "r", quiet=True)
    assert "\n" not in str(err.value) and not (tmp_path / "r").exists()


@pytest.mark.parametrize("overrides", [
    {"model.d_conditioning": "acgan", "loss.name": "lsgan", "model.minibatch_std": True},
    {"model.conditional": False, "loss.name": "wgan-gp", "model.spectral_norm": False, "train.d_steps": 2},
])
@pytest.mark.slow
def test_other_heads_and_losses_train(tmp_path, overrides):
    trainer = Trainer(tiny_config({**overrides, "train.kimg": 0.08}), tmp_path / "r", quiet=True)
    before = [p.detach().clone() for p in trainer.task.G.parameters()]
    trainer.fit()
    assert any(not torch.equal(b, p) for b, p in zip(before, trainer.task.G.parameters()))
    assert trainer.weights_finite()


def test_cuda_requested_without_cuda(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(GanforgeError, match="no CUDA device"):
        Trainer(tiny_config({"train.device": "cuda"}), tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("kind, expected", [
    # (images seen as a fraction of training) -> factor; decay from 0.5 of training to the end
    ("none", {0.0: 1.0, 0.5: 1.0, 0.75: 1.0, 1.0: 1.0}),
    ("cosine", {0.0: 1.0, 0.5: 1.0, 0.75: 0.5, 0.875: 0.5 * (1 + math.cos(math.pi * 0.75)), 1.0: 0.0}),
    ("linear", {0.0: 1.0, 0.5: 1.0, 0.75: 0.5, 0.875: 0.25, 1.0: 0.0}),
])
def test_learning_rate_schedule_values(kind, expected):
    total = 32_000  # a pure formula: no Trainer needed
    for fraction, factor in expected.items():
        assert lr_factor(int(fraction * total), total, decay=kind, start=0.5) == pytest.approx(factor, abs=1e-12), fraction


def test_learning_rate_schedule_refuses_unknown_decay():
    with pytest.raises(ValueError, match="cosine"):
        lr_factor(0, 100, decay="step", start=0.5)


@pytest.mark.slow
def test_learning_rate_decay_reaches_the_optimizers_times_the_recovery_factor(tmp_path):
    cfg = tiny_config({"train.lr_decay": "linear", "train.lr_decay_start": 0.5, "train.g_lr": 0.001, "train.d_lr": 0.004})
    trainer = Trainer(cfg, tmp_path / "r", quiet=True)
    trainer.run_steps(trainer.total_images * 3 // 4)  # 15 of 20 steps: the schedule is at 0.5
    factor = lr_factor(trainer.images, trainer.total_images, decay="linear", start=0.5)
    assert factor == pytest.approx(0.5)
    trainer.train_step()  # a step sets the rates from the images seen before it
    assert trainer.task.optimizers["G"][0].param_groups[0]["lr"] == pytest.approx(0.001 * factor)
    assert trainer.task.optimizers["D"][0].param_groups[0]["lr"] == pytest.approx(0.004 * factor)
    trainer.health.retries = 1
    trainer.health.apply_knobs(trainer)  # a rollback lowers the rates; the schedule still applies on top
    knobs = trainer.health.recovery.knobs(1)
    assert knobs["g_lr_factor"] < 1
    now = lr_factor(trainer.images, trainer.total_images, decay="linear", start=0.5)  # one step further
    assert trainer.task.optimizers["G"][0].param_groups[0]["lr"] == pytest.approx(0.001 * knobs["g_lr_factor"] * now)
    trainer.logger.close()


@pytest.mark.parametrize("override, words", [
    ({"train.lr_decay": "step"}, "train.lr_decay"),
    ({"train.lr_decay_start": 1.0}, "train.lr_decay_start"),
    ({"train.lr_decay_start": -0.1}, "train.lr_decay_start"),
])
def test_bad_learning_rate_decay_settings_are_one_line_errors(override, words):
    with pytest.raises(GanforgeError, match=words.replace(".", r"\.")) as err:
        tiny_config(override)
    assert "\n" not in str(err.value)


def test_ema_beta_formula():
    # A half-life of h images: after h / batch steps the old weights count half.
    beta = ema_beta(10**9, batch_size=64, halflife_kimg=10, rampup=0)
    assert beta ** (10_000 / 64) == pytest.approx(0.5)
    # The ramp-up caps the half-life at rampup * images: early on the EMA forgets fast.
    assert ema_beta(1000, batch_size=64, halflife_kimg=10, rampup=0.05) == pytest.approx(0.5 ** (64 / 50))
    assert ema_beta(0, batch_size=64, halflife_kimg=10, rampup=0.05) == 0.0  # copies G at the start
    assert ema_beta(5000, batch_size=64, halflife_kimg=0, rampup=0) == 0.0
