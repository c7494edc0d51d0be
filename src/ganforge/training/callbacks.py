"""What happens around the training steps: EMA, sample grids, checkpoints, periodic
evaluation and the health monitor with rollback.

Each is a :class:`Callback` with hooks the loop calls at fixed points, in the order of
:func:`default_callbacks`; none knows a task, family, loss or data set by name. They ask the
task (``loop.task``) for what only it knows: its averaged networks, a picture of its outputs,
its probe, its evaluation. A hook receives the loop as a :class:`~.state.Loop` (its progress in
``loop.state``, a :class:`~.state.LoopState`), so this module never imports the loop.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import checkpoint as ckpt
from ..errors import TrainingUnhealthy
from ..images import save_png
from ..pipelines.base import PIPELINES
from . import health as hm
from .schedules import ema_beta
from .state import Loop



class Callback:
    """Base: every hook is a no-op. Hooks run on every rank unless they say otherwise."""

    def on_train_start(self, loop: Loop) -> None:
        """Before the first step of a fresh run (not on resume)."""

    def after_step(self, loop: Loop) -> None:
        """Right after the task's step, before the step and image counters advance."""

    def on_step_end(self, loop: Loop, images_before: int) -> None:
        """After a step was counted and logged; ``images_before``: the image count before it."""

    def on_log(self, loop: Loop, entry: dict[str, Any]) -> None:
        """A log line was written."""

    def on_snapshot(self, loop: Loop, path: Path | None) -> None:
        """A periodic checkpoint was written (``path`` None on ranks other than 0)."""

    def on_eval(self, loop: Loop, metrics: dict[str, float]) -> None:
        """A periodic evaluation finished (rank 0 only)."""

    def on_train_end(self, loop: Loop) -> None:
        """Training reached its length."""

    def state_dict(self) -> dict[str, Any]:
        """Keys stored in the checkpoint's trainer state (beside the loop's and the task's)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def crossed(before: int, after: int, every: int) -> bool:
    """True when the image count passed a multiple of ``every`` (``every`` <= 0: never)."""
    return every > 0 and before // every != after // every


class EMACallback(Callback):
    """net_ema <- beta * net_ema + (1 - beta) * net (Karras et al. 2018) for every pair the task
    names, after every step; buffers (batch-norm statistics) are copied from rank 0's network."""

    @torch.no_grad()
    def after_step(self, loop: Loop) -> None:
        t = loop.cfg.train
        beta = ema_beta(loop.state.images, batch_size=t.batch_size, halflife_kimg=t.ema_halflife_kimg, rampup=t.ema_rampup)
        for ema, net in loop.task.ema_pairs():
            loop.dist.broadcast_module(net, buffers_only=True)
            torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1.0 - beta)
            for b_ema, b in zip(ema.buffers(), net.buffers()):
                b_ema.copy_(b)


class SampleCallback(Callback):
    """``samples/step-XXXXXXX.png`` and ``samples/latest.png`` every ``train.sample_every_kimg``,
    at the start and at the end: the task's picture of its current outputs."""

    def __init__(self) -> None:
        self._sampled_step = -1

    def sample(self, loop: Loop) -> Path | None:
        if self._sampled_step == loop.state.step:
            return None
        self._sampled_step = loop.state.step
        # Every rank prepares (deterministic), so averaged networks stay identical across ranks.
        loop.task.prepare_outputs()
        if not loop.dist.is_main:
            return None
        with torch.no_grad():
            picture = loop.task.sample_picture()
        if picture is None:
            return None
        image, upscale = picture
        folder = loop.run_dir / "samples"
        folder.mkdir(exist_ok=True)
        path = folder / f"{ckpt.checkpoint_name(loop.state.step)}.png"
        save_png(image, path, upscale=upscale)
        save_png(image, folder / "latest.png", upscale=upscale)
        return path

    def on_train_start(self, loop: Loop) -> None:
        self.sample(loop)

    def on_step_end(self, loop: Loop, images_before: int) -> None:
        if crossed(images_before, loop.state.images, int(loop.cfg.train.sample_every_kimg * 1000)):
            self.sample(loop)

    def on_train_end(self, loop: Loop) -> None:
        self.sample(loop)


class CheckpointCallback(Callback):
    """A checkpoint every ``train.snapshot_every_kimg`` (the newest ``train.keep_checkpoints``
    kept) and at the end."""

    def on_step_end(self, loop: Loop, images_before: int) -> None:
        every = int(loop.cfg.train.snapshot_every_kimg * 1000)
        if crossed(images_before, loop.state.images, every) and loop.state.images < loop.state.total_images:
            loop.notify("on_snapshot", loop.snapshot())

    def on_train_end(self, loop: Loop) -> None:
        loop.snapshot()


class EvaluationCallback(Callback):
    """Periodic evaluation (rank 0) every ``train.eval_every_kimg``: the task's metrics go to
    log.jsonl and ``checkpoints/best`` keeps the best value of the task's ``best_metric``.

    Runs under its own random state (the global one is saved and restored), so a run with
    evaluation trains exactly like one without.
    """

    def __init__(self, run_dir: Path, resume: bool) -> None:
        self.best = _read_best(run_dir) if resume else float("inf")
        self.cache: dict[str, Any] = {}  # feature extractors, held-out data: built once

    def on_step_end(self, loop: Loop, images_before: int) -> None:
        if crossed(images_before, loop.state.images, int(loop.cfg.train.eval_every_kimg * 1000)):
            self.evaluate(loop)

    def evaluate(self, loop: Loop) -> dict[str, float] | None:
        if not loop.dist.is_main:
            return None
        t = loop.cfg.train
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=[]):
            metrics, skipped = loop.task.evaluate(loop.run_dir, metrics=t.eval_metrics, n=t.eval_n, cache=self.cache,
                                                  pipeline=PIPELINES.get(loop.task.pipeline))
        np.random.set_state(np_state)
        random.setstate(py_state)
        kimg = loop.state.kimg
        entry = {"event": "eval", "step": loop.state.step, "kimg": kimg, "metrics": metrics}
        if skipped:
            entry["skipped"] = skipped
        loop.logger.record(entry)
        loop.notify("on_eval", metrics)
        key = loop.task.best_metric
        value = metrics.get(key) if key else None
        if value is not None and value < self.best:
            self.best = value
            loop.write_named_checkpoint(ckpt.BEST, {"step": loop.state.step, "kimg": kimg, key: value, "metric": key})
        return metrics


def _read_best(run_dir: Path) -> float:
    """The score of a resumed run's ``checkpoints/best`` (inf when there is none)."""
    info = Path(run_dir) / ckpt.CHECKPOINT_DIR / ckpt.BEST / ckpt.INFO_FILE
    try:
        data = json.loads(info.read_text())
        return float(data[data.get("metric", "fid")])
    except (OSError, ValueError, KeyError):
        return float("inf")


class HealthCallback(Callback):
    """The training-health monitor (:mod:`.health`): judges log lines, the task's diversity probe
    and periodic evaluations; under ``health.policy=recover`` rolls back to ``checkpoints/healthy``
    and changes knobs (learning rates, R1, augmentation floor) for each retry."""

    def __init__(self, loop: Loop) -> None:
        hcfg = loop.cfg.health
        self.cfg = hcfg
        self.monitor = hm.HealthMonitor(hcfg, scaled_grads=loop.task.scaled_gradients)
        self.recovery = hm.RecoveryPlan(hcfg, r1_gamma=loop.task.r1_gamma)
        self.retries = 0
        self.events: list[hm.HealthEvent] = []
        self.unconfirmed = False  # an event since checkpoints/healthy was last written
        self.probe_every = int(hcfg.probe_every_kimg * 1000)
        self.has_reference = False

    # --------------------------------------------------------------------------- knobs
    def apply_knobs(self, loop: Loop) -> None:
        """Learning rates, R1 weight and augmentation floor for ``self.retries``."""
        knobs = self.recovery.knobs(self.retries)
        loop.state.lr_factors = {"generator": knobs["g_lr_factor"], "discriminator": knobs["d_lr_factor"]}
        loop.set_learning_rates()
        loop.task.apply_recovery(knobs)

    def state_dict(self) -> dict[str, Any]:
        return {"health": json.dumps(self.monitor.state_dict()), "retries": self.retries}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.retries = int(state["retries"])
        if state["health"]:
            self.monitor.load_state_dict(json.loads(state["health"]))

    # --------------------------------------------------------------------------- hooks
    def on_train_start(self, loop: Loop) -> None:
        self.mark_healthy(loop)  # recover policy: the untrained state is the first rollback target

    def on_log(self, loop: Loop, entry: dict[str, Any]) -> None:
        numbers = hm.judged_numbers(entry, loop.task.scores_have_scale)
        self.handle(loop, self.monitor.observe_log(loop.state.step, entry["kimg"], numbers))

    def on_snapshot(self, loop: Loop, path: Path | None) -> None:
        if not self.probe_every:  # without probes, a snapshot after a quiet stretch is the healthy state
            self.mark_healthy(loop)

    def on_eval(self, loop: Loop, metrics: dict[str, float]) -> None:
        value = metrics.get(loop.task.best_metric or "")
        if value is not None:
            kimg = loop.state.kimg
            self.handle(loop, self.monitor.observe_eval(loop.state.step, kimg, value), collective=False)

    def on_step_end(self, loop: Loop, images_before: int) -> None:
        if crossed(images_before, loop.state.images, self.probe_every):
            if not self.handle(loop, self.probe(loop)):
                self.mark_healthy(loop)

    @torch.no_grad()
    def probe(self, loop: Loop) -> list[hm.HealthEvent]:
        """The task's diversity probe. Every rank probes (averaged networks are identical on
        all ranks, so all reach the same verdict)."""
        result = loop.task.probe()
        if result is None:
            return []
        if not self.has_reference:
            self.monitor.set_reference(result["reference"])
            self.has_reference = True
        kimg = loop.state.kimg
        record = {"event": "probe", "step": loop.state.step, "kimg": kimg, "diversity": result["diversity"],
                  "diversity_ratio": result["diversity"] / self.monitor.reference}
        if "class_entropy" in result:
            record["class_entropy"] = result["class_entropy"]
        loop.logger.record(record)
        return self.monitor.observe_probe(loop.state.step, kimg, result["diversity"], result.get("class_entropy"))

    # ------------------------------------------------------------------------ actions
    def mark_healthy(self, loop: Loop) -> None:
        """Write ``checkpoints/healthy`` (rank 0): the state the recover policy rolls back to.

        Written when a health check passes with no event since the previous one, so a
        checkpoint taken while a problem was building is never the rollback target.
        """
        if self.cfg.policy != "recover":
            return
        if self.unconfirmed:
            self.unconfirmed = False
            return
        if loop.dist.is_main and loop.weights_finite():
            loop.write_named_checkpoint(ckpt.HEALTHY, {"step": loop.state.step, "kimg": loop.state.kimg})
        loop.dist.barrier()

    def handle(self, loop: Loop, events: list[hm.HealthEvent], *, collective: bool = True) -> bool:
        """Log and show ``events``; under ``recover``, roll back and change knobs.

        Returns True when training was rolled back. With several ranks, ``collective``
        calls (made at the same step on every rank) roll back all ranks when any rank asks.
        """
        for event in events:
            self.events.append(event)
            loop.logger.record(event.to_record())
            loop.logger.message(f"health: {event.message}")
        if events:
            self.unconfirmed = True
        actionable = [e for e in events if e.severe or e.kind == hm.STALL]
        if self.cfg.policy != "recover":
            divergence = [e for e in events if e.kind == hm.DIVERGENCE]
            if divergence:
                loop.diverged(message=divergence[0].message)
            return False
        if loop.dist.enabled:
            if not collective:
                return False  # a rank-0-only check (periodic evaluation) cannot move the other ranks
            if loop.dist.all_agree(not actionable, loop.device):
                return False
        elif not actionable:
            return False
        self.recover(loop, actionable)
        return True

    def recover(self, loop: Loop, events: list[hm.HealthEvent]) -> None:
        """Roll back to ``checkpoints/healthy``, apply the next retry's knobs, re-seed the noise."""
        if not events:
            return
        target = loop.run_dir / ckpt.CHECKPOINT_DIR / ckpt.HEALTHY
        if self.recovery.exhausted(self.retries) or not (target / ckpt.STATE_FILE).is_file():
            if self.recovery.exhausted(self.retries):
                why = f"{self.retries} rollbacks did not help" if self.retries else "health.max_retries is 0"
            else:
                why = "no healthy checkpoint to roll back to yet"
            diagnosis = self.recovery.diagnosis(self.events)
            loop.logger.record({"event": "health_stop", "step": loop.state.step, "reason": why, "diagnosis": diagnosis})
            raise TrainingUnhealthy(f"training stopped at step {loop.state.step}: {why}. {diagnosis}")
        before = loop.state.step
        retries = self.retries + 1
        loop.load_checkpoint(target)
        self.retries = retries  # the checkpoint's count is older than this rollback
        self.apply_knobs(loop)
        # A replay with the same noise could walk into the same failure: a new noise stream per retry.
        loop.reseed_noise(retries)
        self.monitor.reset()
        self.unconfirmed = False
        knobs = self.recovery.knobs(retries)
        loop.logger.record({"event": "health_action", "action": "rollback", "step": before, "to_step": loop.state.step,
                            "kimg": loop.state.kimg, "retry": retries, "knobs": knobs,
                            "kinds": sorted({e.kind for e in events})})
        loop.logger.message(
            f"health: rolled back from step {before} to step {loop.state.step} (retry {retries}/{self.cfg.max_retries}); "
            f"learning rates x{knobs['g_lr_factor']:g}, R1 {knobs['r1_gamma']:g}, augmentation floor {knobs['augment_p_floor']:g}"
        )
