"""ganforge eval end to end: metrics, floors, skipped metrics, outputs, errors; periodic evaluation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import ganforge
from ganforge.tasks.noise_to_image import NoiseToImageTask
from ganforge.errors import GanforgeError
from ganforge.metrics.evaluate import METRICS, evaluate
from ganforge.training import Trainer
from ganforge import checkpoint as ckpt

from ..test_cli import assert_one_line_error, run_cli
from ..training.conftest import tiny_config
from .conftest import needs_fashion

pytestmark = needs_fashion


@pytest.mark.slow
def test_eval_cli_writes_json_and_report(tiny_run, monkeypatch, capsys, tmp_path):
    out = tmp_path / "ev"
    code, stdout, err = run_cli(monkeypatch, capsys, "eval", tiny_run, "--n", "300",
                                "--metrics", "fid,kid,pr,dc,is,acc,ifid,modes", "--out", out, "--json", "--quiet")
    assert code == 0, err
    doc = json.loads(stdout)
    assert doc == json.loads((out / "eval.json").read_text())
    m, floors = doc["metrics"], doc["floors"]
    for key in ("fid", "kid_mean", "precision", "recall", "density", "coverage", "is_mean", "label_accuracy",
                "intra_fid", "modes", "kl_to_uniform"):
        assert key in m and math.isfinite(m[key]), key
        assert key in floors, key
    # 30 steps of a tiny GAN are far from real data; two real splits are close.
    assert floors["fid"] < m["fid"] and floors["label_accuracy"] > m["label_accuracy"]
    assert floors["label_accuracy"] > 0.85 and floors["modes"] == 10
    html = (out / "report.html").read_text()
    assert "<svg" in html and "FID" in html and "data:image/png;base64," in html
    assert "ankle boot" in html  # a per-class grid per class


@pytest.mark.slow
def test_metrics_that_do_not_apply_are_skipped_with_a_reason(tiny_run):
    uncond = Trainer(tiny_config({"model.conditional": False, "train.kimg": 0.032}), tiny_run.parent / "u", quiet=True)
    uncond.fit()
    result = evaluate(ganforge.load(str(tiny_run.parent / "u")), metrics="fid,acc,cas", n=50, floors=False)
    assert set(result.metrics) == {"fid"}
    assert set(result.skipped) == {"acc", "cas"} and "class-conditional" in result.skipped["acc"]


def test_unknown_metric_and_reference_are_one_line_errors(tiny_run, monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "eval", tiny_run, "--metrics", "fid,fdi")
    assert_one_line_error(code, err, "unknown metric 'fdi'", "known:", "kid")
    code, _, err = run_cli(monkeypatch, capsys, "eval", tiny_run, "--ref", "mnist:test")
    assert_one_line_error(code, err, "unknown reference 'mnist:test'", "fashion-mnist")
    code, _, err = run_cli(monkeypatch, capsys, "eval", tiny_run, "--ref", "fashion-mnist:valid")
    assert_one_line_error(code, err, "unknown split 'valid'", "train, test")


def test_inception_without_weights_says_which_file(tiny_run, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("GANFORGE_INCEPTION_WEIGHTS", raising=False)
    code, _, err = run_cli(monkeypatch, capsys, "eval", tiny_run, "--features", "inception-v3-fid",
                           "--out", tmp_path / "x")
    assert_one_line_error(code, err, "pt_inception-2015-12-05-6726825d.pth", "--weights")
    assert not (tmp_path / "x").exists()


def test_every_metric_is_registered_with_a_description():
    assert {"fid", "kid", "pr", "dc", "is", "acc", "ifid", "modes", "cas"} <= set(METRICS.names())
    assert all(METRICS.get(n).description for n in METRICS.names())


def test_mode_metrics_on_a_2d_mixture(tmp_path):
    cfg = tiny_config({"data": {"dataset": "ring8"}, "model": {"family": "mlp", "width": 32, "depth": 2,
                                                                "latent_dim": 8, "conditional": False},
                       "loss.r1_gamma": 0.0, "train.kimg": 0.16})
    Trainer(cfg, tmp_path / "toy", quiet=True).fit()
    result = evaluate(ganforge.load(str(tmp_path / "toy")), metrics="modes,fid", n=500)
    assert result.info["features"] == "points" and result.info["protocol_samples"] == {"modes": 2500}
    # Real samples of the mixture: every mode, and the share within 3 sigma of a 2D Gaussian,
    # P(r < 3 sigma) = 1 - exp(-9/2) = 0.9889, within the binomial noise of 2,500 samples.
    assert result.floors["modes"] == 8
    assert abs(result.floors["high_quality"] - (1 - math.exp(-4.5))) < 0.007
    assert result.floors["reverse_kl"] < 0.01
    assert 0 <= result.metrics["modes"] <= 8 and 0 <= result.metrics["high_quality"] <= 1


@pytest.mark.slow
def test_periodic_evaluation_logs_keeps_best_and_does_not_change_training(tmp_path):
    base = {"train.kimg": 0.32, "model.conditional": False}
    plain = Trainer(tiny_config(base), tmp_path / "plain", quiet=True)
    plain.fit()
    evaluated = Trainer(tiny_config({**base, "train.eval_every_kimg": 0.16, "train.eval_n": 100}),
                        tmp_path / "eval", quiet=True)
    evaluated.fit()
    for a, b in zip(plain.task.G.state_dict().values(), evaluated.task.G.state_dict().values()):
        assert torch.equal(a, b)
    events = [json.loads(x) for x in (tmp_path / "eval" / "log.jsonl").read_text().splitlines()]
    evals = [e for e in events if e.get("event") == "eval"]
    assert len(evals) == 2 and all(math.isfinite(e["metrics"]["fid"]) for e in evals)
    best = tmp_path / "eval" / ckpt.CHECKPOINT_DIR / ckpt.BEST
    info = json.loads((best / ckpt.INFO_FILE).read_text())
    assert info["fid"] == min(e["metrics"]["fid"] for e in evals)
    assert (best / NoiseToImageTask.file_name("G_ema")).is_file()
    # "best" is not part of the keep-K rotation, and resuming still uses the latest step.
    assert all(p.name.startswith("step-") for p in ckpt.list_checkpoints(tmp_path / "eval"))


def test_too_few_samples_is_an_error(tiny_run):
    with pytest.raises(GanforgeError, match="at least 10"):
        evaluate(ganforge.load(str(tiny_run)), metrics="fid", n=5)


def test_classifier_score_does_not_depend_on_sample_order(tiny_run):
    """Conditional samples come in class blocks; the score must not see one class per split."""
    from ganforge.metrics import evaluate as ev
    from ganforge.metrics.features import FeatureSet

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 100)
    logits = np.eye(10)[labels] * 20 + rng.normal(size=(1000, 10))
    ctx = type("Ctx", (), {"n": 1000, "seed": 0})()
    blocked = ev._is(ctx, ev.Sample(FeatureSet(logits, logits), labels), None)["is_mean"]
    shuffled = logits[rng.permutation(1000)]
    mixed = ev._is(ctx, ev.Sample(FeatureSet(shuffled, shuffled), labels), None)["is_mean"]
    assert blocked > 9 and abs(blocked - mixed) < 0.2


@pytest.mark.slow
def test_eval_help_explains_every_option():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "ganforge.cli", "eval", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    for option in ("--metrics", "--n", "--ref", "--features", "--weights", "--seed", "--cas-epochs", "--out",
                   "--json", "--quiet"):
        assert option in proc.stdout
    assert "not comparable" in proc.stdout or "comparable only" in proc.stdout


@pytest.mark.slow
def test_stacked_fashion_mnist_mode_protocol(tmp_path):
    cfg = tiny_config({"data": {"dataset": "stacked-fashion-mnist", "channels": 3, "limit": 512},
                       "model.conditional": False, "train.kimg": 0.032})
    Trainer(cfg, tmp_path / "stacked", quiet=True).fit()
    result = evaluate(ganforge.load(str(tmp_path / "stacked")), metrics="modes", n=100)
    assert result.info["features"] == "fashion-cnn-channels"
    assert result.info["protocol_samples"] == {"modes": 26_000}
    # 26,000 real stacked images hit essentially every one of the 1,000 class triples, evenly.
    assert result.floors["modes"] >= 995 and result.floors["kl_to_uniform"] < 0.1
    # Two steps of a tiny GAN: far fewer modes than real data.
    assert 0 < result.metrics["modes"] < result.floors["modes"]
