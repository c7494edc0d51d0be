"""The training-health monitor: each detector fires on a sequence built to trigger it and stays
quiet on a healthy noisy run; probe helpers against hand-computed values; the recovery plan."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch

from ganforge.config import HealthConfig
from ganforge.data.toy import ring8_means
from ganforge.data.toy import nearest_mode
from ganforge.losses import LOSSES
from ganforge.metrics.diversity import mean_pairwise_distance, normalized_entropy, probe_features
from ganforge.training.health import (
    D_DOMINATES, DIVERGENCE, MODE_COLLAPSE, SPIKE, SPIKE_KEYS, STALL, HealthEvent, HealthMonitor, RecoveryPlan,
    judged_numbers,
)

pytestmark = pytest.mark.usefixtures("one_thread")

LOG_EVERY = 50


def healthy_entry(rng: random.Random) -> dict[str, float]:
    """A log line of a run going well: losses ~0.7, gradient norms ~5 (log-normal), D gap ~1."""
    return {
        "loss_d": 0.7 + rng.gauss(0, 0.1), "loss_g": 0.7 + rng.gauss(0, 0.1),
        "d_real": 0.5 + rng.gauss(0, 0.3), "d_fake": -0.5 + rng.gauss(0, 0.3),
        "grad_norm_d": 5 * math.exp(rng.gauss(0, 0.4)), "grad_norm_g": 2 * math.exp(rng.gauss(0, 0.4)),
        "r1": 0.05 + abs(rng.gauss(0, 0.01)), "img_per_s": 300.0,
    }


def kinds(events: list[HealthEvent]) -> list[str]:
    return [e.kind for e in events]


def feed(monitor: HealthMonitor, entries: list[dict[str, float]], start: int = 1) -> list[HealthEvent]:
    """Log lines at steps start*50, (start+1)*50, ...; all events they raise."""
    out = []
    for i, entry in enumerate(entries, start):
        out += monitor.observe_log(i * LOG_EVERY, i * LOG_EVERY * 0.064, entry)
    return out


def mixed_run(monitor: HealthMonitor, part: int) -> list[HealthEvent]:
    """Part 0 or 1 of a run that exercises every detector: noisy lines, spikes, D dominance,
    probes and evaluations. Deterministic per part."""
    rng = random.Random(part)
    events = []
    for i in range(60):
        step = (part * 60 + i + 1) * LOG_EVERY
        entry = healthy_entry(rng)
        if i % 17 == 5:
            entry["grad_norm_d"] *= 30
        if 30 <= i < 40:  # D pulls away while G's loss climbs
            entry.update(d_real=4.0, d_fake=-4.0, loss_g=1.0 + 0.1 * i)
        events += monitor.observe_log(step, step * 0.064, entry)
        if i % 10 == 9:
            events += monitor.observe_probe(step, step * 0.064, rng.choice([9.0, 2.0]), rng.choice([0.95, 0.3]))
            events += monitor.observe_eval(step, step * 0.064, 20.0 + rng.gauss(0, 1))
    return events


# --------------------------------------------------------------------------------- quiet run


def test_healthy_noisy_run_raises_no_event():
    monitor = HealthMonitor(HealthConfig())
    monitor.set_reference(10.0)
    rng = random.Random(0)
    events = []
    for i in range(1, 501):
        step = i * LOG_EVERY
        events += monitor.observe_log(step, step * 0.064, healthy_entry(rng))
        if i % 20 == 0:
            events += monitor.observe_probe(step, step * 0.064, 9.0 + rng.gauss(0, 0.5), 0.95 + rng.gauss(0, 0.02))
            events += monitor.observe_eval(step, step * 0.064, 100.0 / i + rng.uniform(0, 0.01))
    assert events == []
    # The baseline is a window of baseline_steps (200) worth of lines: 4 lines at log_every 50.
    assert len(monitor.state_dict()["baselines"]["loss_d"]) == 4


# --------------------------------------------------------------------------------- divergence


@pytest.mark.parametrize("key", ["loss_d", "loss_g", "grad_norm_g", "r1"])
def test_non_finite_value_is_divergence_even_in_warmup(key):
    monitor = HealthMonitor(HealthConfig(warmup_steps=1000))
    entry = healthy_entry(random.Random(0)) | {key: float("nan")}
    events = monitor.observe_log(1, 0.064, entry)
    assert kinds(events) == [DIVERGENCE]
    assert key in events[0].message and math.isnan(events[0].values[key])


def test_scaled_grads_ignore_infinite_gradient_norm_but_not_losses():
    entry = healthy_entry(random.Random(0)) | {"grad_norm_d": float("inf")}
    assert kinds(HealthMonitor(HealthConfig()).observe_log(50, 3.2, entry)) == [DIVERGENCE]
    assert HealthMonitor(HealthConfig(), scaled_grads=True).observe_log(50, 3.2, entry) == []
    entry["loss_g"] = float("inf")
    assert kinds(HealthMonitor(HealthConfig(), scaled_grads=True).observe_log(50, 3.2, entry)) == [DIVERGENCE]


def test_non_finite_probe_or_fid_is_divergence():
    monitor = HealthMonitor(HealthConfig())
    assert kinds(monitor.observe_probe(100, 6.4, float("nan"))) == [DIVERGENCE]
    assert kinds(monitor.observe_eval(100, 6.4, float("inf"))) == [DIVERGENCE]


# --------------------------------------------------------------------------------- spikes


def test_spike_is_judged_only_after_warmup():
    monitor = HealthMonitor(HealthConfig(warmup_steps=300))
    rng = random.Random(1)
    events = feed(monitor, [healthy_entry(rng) for _ in range(5)])  # steps 50..250
    events += monitor.observe_log(300, 19.2, healthy_entry(rng) | {"loss_d": 50.0})  # step 300: still warm-up
    assert events == []
    feed(monitor, [healthy_entry(rng) for _ in range(4)], start=7)  # steps 350..500
    events = monitor.observe_log(550, 35.2, healthy_entry(rng) | {"loss_d": 50.0})
    assert kinds(events) == [SPIKE]
    assert set(events[0].values) == {"factor", "loss_d", "loss_d_baseline"}
    assert events[0].values["loss_d_baseline"] == pytest.approx(0.7, abs=0.2)


def test_spiking_values_stay_out_of_the_baseline():
    # A window long enough to hold every line: had the five spikes entered it, its median
    # would be (1 + 100) / 2 and the last 100 would no longer be a spike.
    monitor = HealthMonitor(HealthConfig(warmup_steps=0, baseline_steps=10_000))
    line = {"loss_d": 1.0, "loss_g": 1.0}
    events = feed(monitor, [line] * 4 + [{"loss_d": 100.0, "loss_g": 1.0}] * 5 + [line])
    assert kinds(events) == [SPIKE]  # a lasting spike is one event
    assert [v for _, v in monitor.state_dict()["baselines"]["loss_d"]] == [1.0] * 5
    assert kinds(monitor.observe_log(550, 35.2, {"loss_d": 100.0, "loss_g": 1.0})) == [SPIKE]


def test_tiny_baseline_is_floored():
    # A hinge D loss near 0 going to 0.05 is noise, not a 50x spike.
    monitor = HealthMonitor(HealthConfig(warmup_steps=0))
    events = feed(monitor, [{"loss_d": 0.001}] * 5 + [{"loss_d": 0.05}])
    assert events == []
    assert kinds(monitor.observe_log(350, 22.4, {"loss_d": 0.9})) == [SPIKE]


def test_settled_run_is_judged_against_its_highest_baseline():
    # G's gradient norm falls from 3 to 0.005 as the run settles under a decaying rate (as
    # in the toy runs); a jump to 0.1 is 20x the recent median but below what the run
    # once had as normal, so it is not a spike. A jump past that level still is.
    monitor = HealthMonitor(HealthConfig(warmup_steps=0))
    settling = [{"grad_norm_g": 3.0 * 0.9 ** i} for i in range(60)] + [{"grad_norm_g": 0.005}] * 8
    assert feed(monitor, settling) == []
    assert monitor.observe_log(69 * LOG_EVERY, 220.8, {"grad_norm_g": 0.1}) == []
    peak = monitor.state_dict()["peaks"]["grad_norm_g"]
    assert 2.0 < peak < 3.0  # the median of the first window
    events = monitor.observe_log(70 * LOG_EVERY, 224.0, {"grad_norm_g": 1.1 * peak})
    assert kinds(events) == [SPIKE]
    # The peak travels with the state: a resumed monitor decides the same.
    resumed = HealthMonitor(HealthConfig(warmup_steps=0))
    resumed.load_state_dict(monitor.state_dict())
    assert resumed.state_dict() == monitor.state_dict()
    older = monitor.state_dict()
    del older["peaks"]  # a state saved before peaks were kept still loads
    HealthMonitor(HealthConfig()).load_state_dict(older)


# --------------------------------------------------------------------------------- D dominance


def dominance_lines(n: int, *, gap: float, climb: float) -> list[dict[str, float]]:
    """n lines with D gap ``gap`` and a G loss rising by ``climb`` per line from 1.0."""
    return [{"loss_d": 0.3, "loss_g": 1.0 + climb * i, "d_real": gap / 2, "d_fake": -gap / 2} for i in range(n)]


def test_d_dominance_needs_the_streak_and_a_climbing_g_loss():
    cfg = HealthConfig(warmup_steps=0, dominance_logs=5)
    flat = HealthMonitor(cfg)  # gap alone: G's loss flat
    assert feed(flat, dominance_lines(30, gap=8.0, climb=0.0)) == []
    calm = HealthMonitor(cfg)  # G's loss climbs but D's gap is small
    assert feed(calm, dominance_lines(30, gap=2.0, climb=0.1)) == []
    monitor = HealthMonitor(cfg)
    baseline = dominance_lines(3, gap=1.0, climb=0.0)  # the G loss baseline (3 lines) at 1.0
    climbing = [e | {"loss_g": e["loss_g"] + 0.01} for e in dominance_lines(10, gap=8.0, climb=0.1)]
    events = feed(monitor, baseline + climbing[:4])
    assert events == []  # 4 lines in a row: one short of dominance_logs
    events = feed(monitor, climbing[4:], start=8)
    assert kinds(events) == [D_DOMINATES]  # fires once while the condition lasts
    assert events[0].step == 8 * LOG_EVERY and events[0].values["gap"] == pytest.approx(8.0)


def test_d_dominance_rearms_after_the_condition_clears():
    monitor = HealthMonitor(HealthConfig(warmup_steps=0, dominance_logs=3))
    lines = dominance_lines(3, gap=1.0, climb=0.0) + dominance_lines(5, gap=8.0, climb=0.1)
    lines += [{"loss_d": 0.7, "loss_g": 1.0, "d_real": 0.5, "d_fake": -0.5}]
    lines += [e | {"loss_g": e["loss_g"] + 2} for e in dominance_lines(3, gap=8.0, climb=0.1)]
    assert kinds(feed(monitor, lines)) == [D_DOMINATES, D_DOMINATES]


def test_d_dominance_is_not_judged_in_warmup():
    monitor = HealthMonitor(HealthConfig(warmup_steps=10_000, dominance_logs=2))
    assert feed(monitor, dominance_lines(20, gap=8.0, climb=0.1)) == []


# --------------------------------------------------------------------------------- collapse


def test_collapse_by_diversity_ratio():
    monitor = HealthMonitor(HealthConfig(collapse_ratio=0.4))
    assert monitor.observe_probe(1000, 64.0, 2.0) == []  # no reference: diversity not judged
    monitor.set_reference(10.0)
    assert monitor.observe_probe(2000, 128.0, 9.0) == []
    events = monitor.observe_probe(3000, 192.0, 3.0)
    assert kinds(events) == [MODE_COLLAPSE]
    assert events[0].values["ratio"] == pytest.approx(0.3) and "0.30" in events[0].message
    assert monitor.observe_probe(4000, 256.0, 4.5) == []  # above the floor again


def test_collapse_by_class_entropy():
    monitor = HealthMonitor(HealthConfig(entropy_floor=0.6))
    monitor.set_reference(10.0)
    assert monitor.observe_probe(1000, 64.0, 9.0, 0.95) == []
    events = monitor.observe_probe(2000, 128.0, 9.0, 0.5)
    assert kinds(events) == [MODE_COLLAPSE]
    assert "class entropy 0.50" in events[0].message and "diversity" not in events[0].message


def test_an_unformed_generator_is_not_collapse():
    # An untrained G maps every latent to one blob: low on both measures from the start.
    monitor = HealthMonitor(HealthConfig())
    monitor.set_reference(10.0)
    events = []
    for i, (div, ent) in enumerate([(0.2, 0.0), (1.0, 0.0), (6.0, 0.3), (7.5, 0.7), (3.0, 0.5)]):
        events += monitor.observe_probe(1000 * (i + 1), 64.0 * (i + 1), div, ent)
    # Ratio reached 0.75 >= (1 + 0.4) / 2 before falling to 0.3; entropy never reached 0.8.
    assert [list(e.values) for e in events] == [["diversity", "class_entropy", "reference", "ratio", "best_ratio"]]


# --------------------------------------------------------------------------------- stall


def test_stall_after_evaluations_without_a_new_best():
    monitor = HealthMonitor(HealthConfig(stall_evals=3))
    fids = [30.0, 25.0, 26.0, 25.5, 27.0, 25.0, 28.0, 29.0, 24.0]
    events = [e for i, fid in enumerate(fids) for e in monitor.observe_eval(i * 1000, i * 64.0, fid)]
    # Three in a row without beating 25.0 (equal is not better), twice; then a new best.
    assert kinds(events) == [STALL, STALL]
    assert [e.step for e in events] == [4000, 7000]
    assert events[0].values["best_fid"] == 25.0 and events[0].values["best_step"] == 1000


def test_no_stall_when_one_evaluation_improves():
    monitor = HealthMonitor(HealthConfig(stall_evals=3))
    fids = [30.0, 31.0, 32.0, 29.0, 31.0, 30.0]
    assert [e for i, fid in enumerate(fids) for e in monitor.observe_eval(i * 1000, i * 64.0, fid)] == []


# --------------------------------------------------------------------------------- state


def test_state_dict_round_trip_gives_identical_decisions():
    cfg = HealthConfig(warmup_steps=100, dominance_logs=4, stall_evals=2)
    monitor = HealthMonitor(cfg)
    monitor.set_reference(10.0)
    mixed_run(monitor, 0)
    state = json.loads(json.dumps(monitor.state_dict(), allow_nan=False))
    restored = HealthMonitor(cfg)
    restored.load_state_dict(state)
    expected = [e.to_record() for e in mixed_run(monitor, 1)]
    assert [e.to_record() for e in mixed_run(restored, 1)] == expected
    assert {r["kind"] for r in expected} == {SPIKE, D_DOMINATES, MODE_COLLAPSE, STALL}
    fresh = HealthMonitor(cfg)  # the state matters: without it the decisions differ
    fresh.set_reference(10.0)
    assert [e.to_record() for e in mixed_run(fresh, 1)] != expected


def test_load_state_dict_refuses_another_version():
    monitor = HealthMonitor(HealthConfig())
    state = monitor.state_dict() | {"version": 99}
    with pytest.raises(ValueError, match="version 99"):
        monitor.load_state_dict(state)


def test_reset_clears_streaks_and_baselines_but_keeps_the_reference_and_best_fid():
    cfg = HealthConfig(warmup_steps=0, dominance_logs=5, stall_evals=2)
    monitor = HealthMonitor(cfg)
    monitor.set_reference(10.0)
    monitor.observe_probe(100, 6.4, 9.0)
    monitor.observe_eval(100, 6.4, 20.0)
    monitor.observe_eval(200, 12.8, 21.0)
    feed(monitor, dominance_lines(3, gap=1.0, climb=0.0) + dominance_lines(5, gap=8.0, climb=0.1)[1:])
    kept = HealthMonitor(cfg)
    kept.load_state_dict(monitor.state_dict())
    monitor.reset()
    state = monitor.state_dict()
    assert state["dominance_streak"] == 0 and all(v == [] for v in state["baselines"].values())
    assert state["reference"] == 10.0 and state["best_fid"] == 20.0 and state["evals_since_best"] == 0
    # The same next line is the fifth of a D-dominance streak, a second evaluation without
    # a better FID and a probe fallen to 0.2 of the real diversity, but only without the reset.
    line = {"loss_d": 0.3, "loss_g": 5.0, "d_real": 4.0, "d_fake": -4.0}
    assert kinds(feed(kept, [line], start=8)) == [D_DOMINATES]
    assert kinds(kept.observe_eval(900, 57.6, 22.0)) == [STALL]
    assert kinds(kept.observe_probe(900, 57.6, 2.0)) == [MODE_COLLAPSE]
    assert feed(monitor, [line], start=8) == []
    assert monitor.observe_eval(900, 57.6, 22.0) == []
    assert monitor.observe_probe(900, 57.6, 2.0) == []  # the restored G must look healthy again


# --------------------------------------------------------------------------------- events


def test_event_messages_are_one_line_and_records_are_json():
    cfg = HealthConfig(warmup_steps=0, dominance_logs=2, stall_evals=1)
    monitor = HealthMonitor(cfg)
    monitor.set_reference(10.0)
    events = feed(monitor, [{"loss_d": 1.0, "loss_g": 1.0}] * 3 + [{"loss_d": 99.0, "loss_g": 1.0}])
    events += feed(monitor, dominance_lines(4, gap=8.0, climb=0.5), start=5)
    events += monitor.observe_probe(500, 32.0, 9.0, 0.9) + monitor.observe_probe(600, 38.4, 1.0, 0.1)
    events += monitor.observe_eval(700, 44.8, 10.0) + monitor.observe_eval(800, 51.2, 11.0)
    events += monitor.observe_log(900, 57.6, {"loss_d": float("nan")})
    assert kinds(events) == [SPIKE, D_DOMINATES, MODE_COLLAPSE, STALL, DIVERGENCE]
    for event in events:
        assert "\n" not in event.message and str(event.step) in event.message
        record = json.loads(json.dumps(event.to_record(), allow_nan=False))
        assert record["event"] == "health" and record["kind"] == event.kind
        assert record["severe"] is (event.kind != STALL)
    assert events[-1].to_record()["values"] == {"loss_d": "nan"}


def test_event_rejects_unknown_kind_and_multiline_message():
    with pytest.raises(ValueError, match="unknown health event kind"):
        HealthEvent("oops", 1, 0.1, "x")
    with pytest.raises(ValueError, match="one line"):
        HealthEvent(STALL, 1, 0.1, "a\nb")


# --------------------------------------------------------------------------------- probe helpers


def test_mean_pairwise_distance_of_unit_square_corners():
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # 4 sides of length 1 and 2 diagonals of length sqrt(2) over 6 pairs.
    assert mean_pairwise_distance(corners) == pytest.approx((4 + 2 * math.sqrt(2)) / 6, abs=1e-12)
    assert mean_pairwise_distance(torch.ones(300, 256)) == 0.0
    with pytest.raises(ValueError, match="N >= 2"):
        mean_pairwise_distance(torch.zeros(1, 3))


def test_normalized_entropy():
    assert normalized_entropy(torch.arange(10).repeat(7), 10) == pytest.approx(1.0)
    assert normalized_entropy(torch.full((50,), 3), 10) == 0.0
    assert normalized_entropy(torch.tensor([0, 1, 0, 1]), 4) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        normalized_entropy(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="at least 2"):
        normalized_entropy(torch.tensor([0]), 1)


def test_probe_features():
    assert probe_features(torch.zeros(8, 1, 32, 32)).shape == (8, 256)
    assert probe_features(torch.zeros(8, 3, 8, 8)).shape == (8, 192)
    assert probe_features(torch.zeros(8, 3, 64, 48)).shape == (8, 3 * 16 * 16)
    points = torch.randn(8, 2)
    assert torch.equal(probe_features(points), points)
    # 2x2 average pooling of 32 px: a checkerboard becomes flat grey.
    board = (torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2
    assert torch.allclose(probe_features(board.float().expand(2, 1, 32, 32)), torch.full((2, 256), 0.5))
    with pytest.raises(ValueError, match="probe batch"):
        probe_features(torch.zeros(2, 3, 4))


def test_nearest_mode_on_ring8():
    means = ring8_means()
    order = torch.tensor([3, 0, 7, 7, 5])
    points = means[order] * 1.05 + 0.01
    assert torch.equal(nearest_mode(points, means), order)
    labels = nearest_mode(means.repeat(4, 1), means)
    assert normalized_entropy(labels, 8) == pytest.approx(1.0)


# --------------------------------------------------------------------------------- recovery


def test_recovery_knobs_sequence_and_exhaustion():
    plan = RecoveryPlan(HealthConfig(max_retries=3, lr_factor=0.5, r1_factor=2.0, augment_step=0.2), r1_gamma=0.0)
    assert plan.knobs(0) == {"g_lr_factor": 1.0, "d_lr_factor": 1.0, "r1_gamma": 0.0, "augment_p_floor": 0.0}
    knobs = [plan.knobs(r) for r in (1, 2, 3)]
    assert [k["g_lr_factor"] for k in knobs] == [0.5, 0.25, 0.125] == [k["d_lr_factor"] for k in knobs]
    assert [k["r1_gamma"] for k in knobs] == pytest.approx([0.02, 0.04, 0.08])
    assert [k["augment_p_floor"] for k in knobs] == pytest.approx([0.2, 0.4, 0.6])
    assert plan.knobs(7)["augment_p_floor"] == 1.0
    assert [plan.exhausted(r) for r in range(5)] == [False, False, False, True, True]
    assert RecoveryPlan(HealthConfig(max_retries=0), r1_gamma=1.0).exhausted(0)


def test_next_r1_from_zero_and_from_a_weight():
    plan = RecoveryPlan(HealthConfig(r1_factor=3.0), r1_gamma=0.5)
    assert plan.next_r1(0.0) == pytest.approx(0.03)
    assert plan.next_r1(0.5) == pytest.approx(1.5)
    assert plan.knobs(2)["r1_gamma"] == pytest.approx(4.5)


def test_diagnosis_is_one_line_with_advice_per_kind():
    plan = RecoveryPlan(HealthConfig(max_retries=2), r1_gamma=0.0)
    spike = HealthEvent(SPIKE, 500, 32.0, "spike at step 500: grad_norm_d 90 is 18x its running median 5")
    collapse = HealthEvent(MODE_COLLAPSE, 900, 57.6, "mode collapse at step 900: class entropy 0.20 < 0.6")
    text = plan.diagnosis([spike, collapse])
    assert "\n" not in text
    assert "step 900" in text and "1 x spike, 1 x mode_collapse" in text and "class entropy 0.20" in text
    assert "learning rates x0.25" in text and "R1 weight 0.04" in text
    assert "train.d_lr" in text and "model.minibatch_std" in text and "augment.kind" not in text
    assert "augment.kind=ada" in plan.diagnosis([HealthEvent(D_DOMINATES, 1, 0.1, "D dominates")])
    with pytest.raises(ValueError, match="needs the events"):
        plan.diagnosis([])


def test_judged_numbers_are_what_the_trainer_feeds_the_monitor():
    line = {"step": 50, "kimg": 3.2, "loss_d": 1.3, "loss_g": 0.8, "grad_norm_d": 2.0, "grad_norm_g": 1.0,
            "d_real": 0.4, "d_fake": -0.4, "r1": 0.02, "img_per_s": 300.0, "time": 1.0}
    assert judged_numbers(line, LOSSES.get("nonsaturating").scores_have_scale) == {k: line[k] for k in (*SPIKE_KEYS, "d_real", "d_fake")}
    # A Wasserstein estimate has no fixed scale: D dominance is not judged on it.
    assert judged_numbers(line, LOSSES.get("wgan-gp").scores_have_scale) == {k: line[k] for k in SPIKE_KEYS}
