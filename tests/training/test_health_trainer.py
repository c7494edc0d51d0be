"""The health monitor inside the Trainer: each failure is provoked on purpose, then detected,
and under ``health.policy=recover`` rolled back with changed knobs (or stopped with a diagnosis)."""

from __future__ import annotations

import json

import pytest
import torch

from ganforge.config import apply_overrides
from ganforge.tasks import build_config
from ganforge import checkpoint as ckpt
from ganforge.checkpoint import HEALTHY
from ganforge.training import Trainer, TrainingDiverged, TrainingUnhealthy

pytestmark = pytest.mark.usefixtures("one_thread")


def toy_config(overrides: dict | None = None):
    """A small MLP GAN on the 2D grid: ~100 steps in a few seconds."""
    raw = {
        "name": "toy",
        "data": {"dataset": "grid25", "toy_samples": 2000},
        "model": {"family": "mlp", "latent_dim": 2, "width": 32, "depth": 2},
        "loss": {"name": "nonsaturating"},
        "train": {"batch_size": 64, "kimg": 3.2, "log_every": 1, "sample_every_kimg": 100, "snapshot_every_kimg": 100,
                  "ema_halflife_kimg": 0, "g_lr": 1e-3, "d_lr": 1e-3},
        "health": {"policy": "recover", "warmup_steps": 4, "baseline_steps": 20, "probe_every_kimg": 0},
    }
    return build_config(apply_overrides(raw, overrides or {}))


def events(run_dir, name="health"):
    lines = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    return [e for e in lines if e.get("event") == name]


@pytest.mark.slow
def test_absurd_learning_rate_is_detected_and_recovered(tmp_path):
    cfg = toy_config({"train.g_lr": 5.0, "train.d_lr": 5.0, "health.lr_factor": 0.001})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    trainer.fit()
    found = events(tmp_path / "run")
    assert found and found[0]["kind"] in ("spike", "divergence"), found
    actions = events(tmp_path / "run", "health_action")
    assert actions and actions[0]["action"] == "rollback" and actions[0]["to_step"] < actions[0]["step"]
    # The learning rate in effect is the configured one times lr_factor per retry.
    assert trainer.health.retries == len(actions) >= 1
    assert trainer.task.optimizers["G"][0].param_groups[0]["lr"] == pytest.approx(5.0 * 0.001 ** trainer.health.retries)
    assert trainer.images >= trainer.total_images  # training finished
    assert all(torch.isfinite(p).all() for p in trainer.task.G.parameters())
    assert ckpt.latest_checkpoint(tmp_path / "run").name == ckpt.checkpoint_name(trainer.step)


def test_absurd_learning_rate_under_warn_is_reported_not_changed(tmp_path):
    cfg = toy_config({"train.g_lr": 5.0, "train.d_lr": 5.0, "health.policy": "warn"})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    try:
        trainer.fit()
    except TrainingDiverged as err:  # warn cannot continue past NaN: it stops with the message
        assert "\n" not in str(err)
    assert events(tmp_path / "run"), "the spike or divergence was not logged"
    assert not events(tmp_path / "run", "health_action")
    assert trainer.task.optimizers["G"][0].param_groups[0]["lr"] == 5.0
    assert not (tmp_path / "run" / ckpt.CHECKPOINT_DIR / HEALTHY).exists()


def test_off_policy_watches_nothing(tmp_path):
    cfg = toy_config({"train.g_lr": 5.0, "train.d_lr": 5.0, "health.policy": "off", "train.kimg": 1.0})
    try:
        Trainer(cfg, tmp_path / "run", quiet=True).fit()
    except TrainingDiverged:
        pass
    assert not events(tmp_path / "run")


@pytest.mark.slow
def test_discriminator_far_stronger_than_generator_is_detected_and_recovered(tmp_path):
    # D: 5 steps per G step at a high rate; G almost frozen. R1 (raised by recovery) tames D.
    cfg = toy_config({"train.d_steps": 5, "train.d_lr": 1e-2, "train.g_lr": 1e-6, "train.kimg": 16,
                      "health.spike_factor": 1e6, "health.r1_factor": 1000.0, "health.max_retries": 2})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    trainer.fit()
    kinds = [e["kind"] for e in events(tmp_path / "run")]
    assert "d_dominates" in kinds, kinds
    actions = events(tmp_path / "run", "health_action")
    assert actions and "d_dominates" in actions[0]["kinds"]
    assert trainer.task.r1_gamma == pytest.approx(0.01 * 1000.0 ** trainer.health.retries)
    assert trainer.images >= trainer.total_images


def _spread(net: torch.nn.Module, scale: float) -> None:
    """Set the generator's output layer so its samples spread like the data (scale ~ 4)."""
    last = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.copy_(torch.randn(last.weight.shape, generator=torch.Generator().manual_seed(0)) * scale)
        last.bias.zero_()


def test_mode_collapse_is_detected_and_rolled_back(tmp_path):
    cfg = toy_config({"train.g_lr": 1e-30, "train.d_lr": 1e-30, "health.probe_size": 256})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    for net in (trainer.task.G, trainer.task.G_ema):
        _spread(net, 4.0)
    assert trainer.health.probe(trainer) == []  # diverse: the probe is armed and healthy
    trainer.health.mark_healthy(trainer)
    healthy_out = trainer.task.G_ema(trainer.task._probe["z"], None).clone()

    # Collapse on purpose: every latent maps to the same point.
    for net in (trainer.task.G, trainer.task.G_ema):
        _spread(net, 0.0)
    found = trainer.health.probe(trainer)
    assert [e.kind for e in found] == ["mode_collapse"]
    assert trainer.health.handle(trainer, found) is True  # recover: rolled back
    assert torch.equal(trainer.task.G_ema(trainer.task._probe["z"], None), healthy_out)
    assert events(tmp_path / "run", "health_action")[0]["kinds"] == ["mode_collapse"]
    trainer.logger.close()


def test_mode_collapse_under_warn_only_logs(tmp_path):
    cfg = toy_config({"health.policy": "warn"})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    for net in (trainer.task.G, trainer.task.G_ema):
        _spread(net, 4.0)
    assert trainer.health.probe(trainer) == []
    for net in (trainer.task.G, trainer.task.G_ema):
        _spread(net, 0.0)
    found = trainer.health.probe(trainer)
    assert trainer.health.handle(trainer, found) is False
    trainer.logger.close()
    assert [e["kind"] for e in events(tmp_path / "run")] == ["mode_collapse"]
    assert torch.equal(trainer.task.G_ema(trainer.task._probe["z"], None), trainer.task.G_ema(trainer.task._probe["z"][:1], None).expand(256, 2))


def test_stalled_fid_runs_out_of_retries_and_stops_with_a_diagnosis(tmp_path):
    # Learning rates below float32 resolution: G never changes, so FID never improves.
    cfg = toy_config({"train.g_lr": 1e-30, "train.d_lr": 1e-30, "train.kimg": 6.4, "train.eval_every_kimg": 0.32,
                      "train.eval_n": 200, "health.stall_evals": 2, "health.max_retries": 2})
    trainer = Trainer(cfg, tmp_path / "run", quiet=True)
    with pytest.raises(TrainingUnhealthy, match="2 rollbacks did not help") as err:
        trainer.fit()
    assert "\n" not in str(err.value)
    kinds = [e["kind"] for e in events(tmp_path / "run")]
    assert kinds.count("stall") == 3, kinds  # two rollbacks, then the stop
    stop = events(tmp_path / "run", "health_stop")
    assert len(stop) == 1 and "stall" in stop[0]["diagnosis"].lower()


def test_recovery_knobs_survive_resume(tmp_path):
    cfg = toy_config({"train.g_lr": 5.0, "train.d_lr": 5.0, "health.lr_factor": 0.001, "train.kimg": 1.6,
                      "train.snapshot_every_kimg": 0.64})
    first = Trainer(cfg, tmp_path / "run", quiet=True)
    first.fit()
    assert first.health.retries >= 1
    longer = cfg.model_copy(update={"train": cfg.train.model_copy(update={"kimg": 3.2})})
    resumed = Trainer(longer, tmp_path / "run", resume=True, quiet=True)
    assert resumed.health.retries == first.health.retries
    assert resumed.task.optimizers["G"][0].param_groups[0]["lr"] == pytest.approx(first.task.optimizers["G"][0].param_groups[0]["lr"])
    resumed.logger.close()


@pytest.mark.slow
def test_health_events_appear_in_the_evaluation_report(tmp_path):
    from ganforge.pipelines import GeneratorPipeline
    from ganforge.metrics.evaluate import evaluate
    from ganforge.metrics.report_card import write_eval_outputs

    cfg = toy_config({"train.g_lr": 5.0, "train.d_lr": 5.0, "health.lr_factor": 0.001, "train.kimg": 1.6})
    Trainer(cfg, tmp_path / "run", quiet=True).fit()
    pipe = GeneratorPipeline.from_run(tmp_path / "run")
    result = evaluate(pipe, metrics=["modes"], n=500, floors=False)
    _, html = write_eval_outputs(tmp_path / "eval", pipe, result, run_dir=tmp_path / "run")
    text = html.read_text()
    assert "health" in text and "rollback" in text


def test_conditional_probe_measures_diversity_within_classes():
    from ganforge.metrics.diversity import probe_diversity as _diversity

    g = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    # One picture per class: varied across classes, collapsed within each.
    per_class = torch.rand(2, 1, 8, 8, generator=g) * 2 - 1
    collapsed = per_class[labels]
    varied = torch.rand(6, 1, 8, 8, generator=g) * 2 - 1
    assert _diversity(collapsed, None, 0) > 0
    assert _diversity(collapsed, labels, 2) == 0.0
    assert _diversity(varied, labels, 2) > 0.5
