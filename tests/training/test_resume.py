"""2N steps in one go equal N steps + resume + N steps, bit for bit on CPU."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge.tasks.noise_to_image import NoiseToImageTask
from ganforge.training import Trainer
from ganforge import checkpoint as ckpt

from .conftest import tiny_config


def _final_state(run_dir):
    last = ckpt.latest_checkpoint(run_dir)
    weights = {name: ckpt.load_weights(last / name) for name in (NoiseToImageTask.file_name("G"), NoiseToImageTask.file_name("G_ema"), NoiseToImageTask.file_name("D"))}
    return last, weights, ckpt.load_state(last / ckpt.STATE_FILE)


def _assert_same(a, b, path="state"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{path} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{path} keys differ"
        for k in a:
            _assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("variant", [
    {},  # conditional, projection, spectral norm, hinge, lazy R1
    {"model.conditional": False, "model.minibatch_std": True, "model.pack": 2, "loss.name": "wgan-gp",
     "loss.r1_gamma": 0.0, "train.d_steps": 2},
    # style-based G (noise inputs, style mixing), path-length regularization, ADA moving p
    {"model": {"family": "stylegan", "conditional": True, "width": 8, "max_channels": 16, "w_dim": 16,
               "mapping_layers": 2, "latent_dim": 16, "mixing_prob": 0.5},
     "loss.pl_weight": 2.0, "loss.pl_interval": 2, "augment.kind": "ada", "augment.interval": 2,
     "augment.speed_kimg": 0.1},
])
@pytest.mark.slow
def test_resume_equals_uninterrupted(tmp_path, variant):
    steps = 12  # per half
    per_step = 16 * (variant.get("train.d_steps", 1))
    full = tiny_config({**variant, "train.kimg": 2 * steps * per_step / 1000})
    half = tiny_config({**variant, "train.kimg": steps * per_step / 1000})

    Trainer(full, tmp_path / "a", quiet=True).fit()
    Trainer(half, tmp_path / "b", quiet=True).fit()
    Trainer(full, tmp_path / "b", resume=True, quiet=True).fit()

    last_a, weights_a, state_a = _final_state(tmp_path / "a")
    last_b, weights_b, state_b = _final_state(tmp_path / "b")
    assert last_a.name == last_b.name == ckpt.checkpoint_name(2 * steps)
    _assert_same(weights_a, weights_b, "weights")
    # The health monitor's baselines are built from log lines, whose averaging windows restart
    # at a resume: they are monitoring state, not arithmetic, and are compared loosely.
    health_a, health_b = json.loads(state_a.pop("health")), json.loads(state_b.pop("health"))
    assert health_a.keys() == health_b.keys() and health_a["baselines"].keys() == health_b["baselines"].keys()
    _assert_same(state_a, state_b, "trainer_state")


@pytest.mark.slow
def test_resume_changes_the_outcome_when_state_is_lost(tmp_path):
    """Guard for the test above: dropping the saved noise stream must break equality."""
    steps = 8
    full = tiny_config({"train.kimg": 2 * steps * 16 / 1000})
    half = tiny_config({"train.kimg": steps * 16 / 1000})
    Trainer(full, tmp_path / "a", quiet=True).fit()
    Trainer(half, tmp_path / "b", quiet=True).fit()
    resumed = Trainer(full, tmp_path / "b", resume=True, quiet=True)
    resumed.noise.manual_seed(12345)  # simulate a resume that forgot the noise state
    resumed.fit()
    _, weights_a, _ = _final_state(tmp_path / "a")
    _, weights_b, _ = _final_state(tmp_path / "b")
    assert not torch.equal(weights_a[NoiseToImageTask.file_name("G")]["fc.weight"], weights_b[NoiseToImageTask.file_name("G")]["fc.weight"])


@pytest.mark.slow
def test_resume_in_the_middle_of_a_learning_rate_decay_equals_uninterrupted(tmp_path):
    """The schedule is a function of images seen and train.kimg, so a run stopped mid-decay resumes on it."""
    full = tiny_config({"train.kimg": 24 * 16 / 1000, "train.lr_decay": "cosine", "train.lr_decay_start": 0.25})
    Trainer(full, tmp_path / "a", quiet=True).fit()
    first = Trainer(full, tmp_path / "b", quiet=True)
    first.run_steps(12 * 16)  # stop halfway, inside the decay
    assert 0 < first.task.optimizers["G"][0].param_groups[0]["lr"] < full.train.g_lr  # inside the decay
    first.snapshot()
    first.logger.close()
    Trainer(full, tmp_path / "b", resume=True, quiet=True).fit()
    _, weights_a, state_a = _final_state(tmp_path / "a")
    _, weights_b, state_b = _final_state(tmp_path / "b")
    _assert_same(weights_a, weights_b, "weights")
    _assert_same(state_a["g_opt"], state_b["g_opt"], "g_opt")
