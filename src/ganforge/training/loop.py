"""The training loop: one for every task.

``Trainer`` sets up the device, processes, data, the task and the run folder, then runs the
task's steps: ``train_step`` = learning rates -> ``task.train_step`` -> ``after_step`` callbacks
(EMA) -> count. Around the steps it keeps the log window and calls callbacks (samples,
checkpoints, evaluation, health). It knows no task, family, loss or data set by name: what a
batch holds and how a step goes is the task's (``tasks/``). Everything random is drawn from
generators whose state is saved, so a resumed run equals an uninterrupted one bit for bit on CPU.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..version import __version__
from .. import checkpoint as ckpt
from ..config import TaskConfig, save_config_yaml
from ..data import DATASETS, build_dataset
from ..data.loader import InMemoryLoader
from ..errors import GanforgeError, TrainingDiverged
from ..fileio import atomic_write_text
from ..runtime import default_channels_last, resolve_device
from ..tasks import TASKS
from . import health as hm
from .callbacks import (
    Callback,
    CheckpointCallback,
    EMACallback,
    EvaluationCallback,
    HealthCallback,
    SampleCallback,
)
from .distributed import DistContext
from .logger import RunLogger
from .schedules import lr_factor
from .state import LoopState


def default_callbacks(trainer: "Trainer", resume: bool) -> list[Callback]:
    """EMA, samples, checkpoints, evaluation (when ``train.eval_every_kimg`` > 0) and health
    (unless ``health.policy=off``), in the order they run after each step."""
    callbacks: list[Callback] = [EMACallback(), SampleCallback(), CheckpointCallback()]
    if trainer.cfg.train.eval_every_kimg > 0:
        callbacks.append(EvaluationCallback(trainer.run_dir, resume))
    if trainer.cfg.health.policy != "off":
        callbacks.append(HealthCallback(trainer))
    return callbacks


class Trainer:
    """Trains the task a :class:`~ganforge.config.TaskConfig` describes into ``run_dir``.

    Use :meth:`fit`. ``resume=True`` continues from the latest checkpoint in ``run_dir``.
    ``callbacks`` are added after the default ones.
    """

    def __init__(self, cfg: TaskConfig, run_dir: str | Path, *, resume: bool = False, quiet: bool = False,
                 command: str | None = None, callbacks: list[Callback] | None = None) -> None:
        self.run_dir = Path(run_dir)
        t = cfg.train
        self.device = resolve_device(t.device)
        self.dist = DistContext.from_env(self.device.type)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if t.threads:
            torch.set_num_threads(t.threads)
        if t.batch_size % self.dist.world_size:
            raise GanforgeError(f"train.batch_size {t.batch_size} must divide evenly over {self.dist.world_size} ranks")
        self.local_batch = t.batch_size // self.dist.world_size
        task_class = TASKS.get(cfg.task)

        # 1. Data, then the config with the data-derived fields (and machine defaults) filled in.
        spec = DATASETS.get(cfg.data.dataset)
        if spec.batch not in task_class.batch_kinds:
            raise GanforgeError(
                f"task {task_class.name} trains on {' or '.join(task_class.batch_kinds)}, but data set "
                f"'{spec.name}' holds {spec.batch}; choose another data.dataset or task"
            )
        self.dataset = build_dataset(cfg.data)
        cfg = task_class.resolve_config(cfg, self.dataset)
        if cfg.train.channels_last is None:
            cfg = cfg.model_copy(update={"train": cfg.train.model_copy(
                update={"channels_last": default_channels_last(self.device)})})
        self.cfg = cfg

        # 2. The task and its networks: the same seed on every rank, so all ranks start identical.
        torch.manual_seed(t.seed)
        np.random.seed(t.seed % 2**32)
        random.seed(t.seed)
        self.noise = torch.Generator(device=self.device)
        self.reseed_noise(0)
        self.task = task_class(cfg, self.dataset, device=self.device, dist=self.dist, noise=self.noise,
                               local_batch=self.local_batch)
        self.state = LoopState(total_images=int(round(t.kimg * 1000)))  # shared with the callbacks

        # 3. Data order: each rank its share of every global batch.
        self.loader = InMemoryLoader(
            self.dataset.fields(), batch_size=self.local_batch, seed=t.seed, device=self.device,
            rank=self.dist.rank, world_size=self.dist.world_size, groups=self.dataset.field_groups(),
        )

        # 4. Callbacks, then the run folder.
        self.last_good: Path | None = None
        self.callbacks = default_callbacks(self, resume) + list(callbacks or [])
        self.health = next((c for c in self.callbacks if isinstance(c, HealthCallback)), None)
        if resume:
            self._load_latest()
        elif self.dist.is_main:
            if self.run_dir.exists() and any(self.run_dir.iterdir()):
                raise GanforgeError(
                    f"run folder '{self.run_dir}' already exists and is not empty; "
                    f"choose another --run-dir or continue it with --resume {self.run_dir}"
                )
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config_yaml(self.cfg, self.run_dir / "config.yaml")
            atomic_write_text(self.run_dir / "run.json", json.dumps({
                "command": command, "ganforge_version": __version__, "task": task_class.name,
                "class_names": self.task.class_names,
                "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "world_size": self.dist.world_size, "device": str(self.device),
            }, indent=2) + "\n")
        self.dist.barrier()
        self.logger = RunLogger(
            self.run_dir, total_images=self.state.total_images, start_images=self.state.images, quiet=quiet, enabled=self.dist.is_main
        )
        if self.dataset.skipped and self.dist.is_main:
            self.logger.record({"event": "skipped_files", "count": len(self.dataset.skipped),
                                "files": [{"path": p, "reason": r} for p, r in self.dataset.skipped[:100]]})
            self.logger.message(f"skipped {len(self.dataset.skipped)} unusable files (listed in log.jsonl)")

    # --------------------------------------------------------------------------------- steps
    # Read-only views of the state, for callers of a finished or stopped run.
    @property
    def step(self) -> int:
        return self.state.step

    @property
    def images(self) -> int:
        return self.state.images

    @property
    def total_images(self) -> int:
        return self.state.total_images

    def reseed_noise(self, retry: int) -> None:
        """The task's noise stream: one per rank, and a new one for each health-monitor retry."""
        self.noise.manual_seed(self.cfg.train.seed * 7919 + 1 + self.dist.rank + 1_000_003 * retry)

    def set_learning_rates(self) -> None:
        """lr = configured lr x recovery factor of its role x schedule."""
        t = self.cfg.train
        factor = lr_factor(self.state.images, self.state.total_images, decay=t.lr_decay, start=t.lr_decay_start)
        for opt, base_lr, role in self.task.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = base_lr * self.state.lr_factors.get(role, 1.0) * factor

    def train_step(self) -> dict[str, torch.Tensor]:
        """One step of the task, the after-step callbacks (EMA), then the counters."""
        if self.cfg.train.lr_decay != "none":
            self.set_learning_rates()
        stats = self.task.train_step(self.state.step, self.loader.next)
        self.notify("after_step")
        self.state.step += 1
        self.state.images += self.task.images_per_step
        return stats

    def notify(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on every callback, in order."""
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _non_finite_loss(self, stats: dict[str, torch.Tensor]) -> str | None:
        """The first ``loss_*`` that is NaN or infinite (one synchronisation), or None."""
        keys = [k for k in stats if k.startswith("loss_")]
        finite = torch.isfinite(torch.stack([stats[k].float() for k in keys]))
        if bool(finite.all()):
            return None
        return keys[int((~finite).nonzero()[0])]

    def run_steps(self, until_images: int) -> None:
        """Train until ``until_images`` real images have been shown, logging every
        ``train.log_every`` steps and calling the callbacks. ``fit`` calls it; benchmarks call
        it directly."""
        t = self.cfg.train
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, Any] = {}
        t_log, img_log = time.perf_counter(), self.state.images
        while self.state.images < until_images:
            before = self.state.images
            stats = self.train_step()
            bad = self._non_finite_loss(stats)
            if bad is not None:
                what = f"the {bad.removeprefix('loss_').upper()} loss"
                if self.health is None:
                    self.diverged(what)
                event = hm.HealthEvent(hm.DIVERGENCE, self.state.step, self.state.kimg,
                                       f"{what} became NaN or infinite at step {self.state.step} (kimg {self.state.images / 1000:.1f})",
                                       {k: float(v) for k, v in stats.items() if k.startswith("loss_")})
                self.health.handle(self, [event])  # warn: raises; recover: rolls back (or raises when out of retries)
                sums, counts, t_log, img_log = {}, {}, time.perf_counter(), self.state.images
                continue
            self._accumulate(sums, counts, stats)
            self.logger.advance(self.state.images - before)
            if self.state.step % t.log_every == 0 or self.state.images >= self.state.total_images:
                now = time.perf_counter()
                self.log(sums, counts, now - t_log, self.state.images - img_log)
                sums, counts, t_log, img_log = {}, {}, now, self.state.images
            self.notify("on_step_end", before)

    def fit(self) -> Path:
        """Train until ``train.kimg``; returns the run folder. Ctrl-C saves a checkpoint."""
        if self.state.step == 0:
            self.notify("on_train_start")
        try:
            self.run_steps(self.state.total_images)
            self.notify("on_train_end")
        except KeyboardInterrupt:
            if self.state.step > 0 and self.weights_finite():
                path = self.snapshot()
                self.logger.message(f"interrupted; saved {path}; continue with: ganforge train --resume {self.run_dir}")
            raise
        finally:
            self.logger.close()
        return self.run_dir

    # ------------------------------------------------------------------------------ logging
    def _accumulate(self, sums: dict[str, torch.Tensor], counts: dict[str, Any], stats: dict[str, torch.Tensor]) -> None:
        """Add one step's ``stats`` to the log window's sums and per-number counts (lazy
        regularizers report only every few steps). Under fp16 a step whose gradients
        overflowed was skipped by the GradScaler: its gradient norm is left out (counted by a
        tensor, so no step waits for the check)."""
        scaled = self.task.scaled_gradients
        for k, v in stats.items():
            v, n = v.float(), 1
            if scaled and k.startswith("grad_norm"):
                finite = torch.isfinite(v)
                v, n = torch.where(finite, v, 0.0), finite.float()
            sums[k] = sums[k] + v if k in sums else v
            counts[k] = counts.get(k, 0) + n

    def log(self, sums: dict[str, torch.Tensor], counts: dict[str, Any], elapsed: float, images: int) -> None:
        entry: dict[str, Any] = {"step": self.state.step, "images": self.state.images, "kimg": self.state.kimg}
        # Means over the log window of every number a step returned: losses, D scores, the
        # gradient norms of the loss steps (a single step's norm swings several-fold; R1 steps
        # are not mixed in), R1 over the steps that took it. 0/0 (no finite norm) logs NaN.
        entry.update({k: float(v / counts[k]) for k, v in sums.items()})
        entry["img_per_s"] = images / elapsed if elapsed > 0 else 0.0
        entry.update(self.task.log_extras())
        entry["time"] = round(time.time(), 3)
        self.logger.record(entry)
        self.notify("on_log", entry)

    # ---------------------------------------------------------------------------- checkpoints
    def weights_finite(self) -> bool:
        return all(bool(torch.isfinite(p).all()) for net in self.task.networks.values() for p in net.parameters())

    def checkpoint_files(self) -> dict[str, Any]:
        """What every checkpoint folder holds (rotating, ``best`` and ``healthy``): each of the
        task's networks and the trainer state (loop, task and callbacks)."""
        files: dict[str, Any] = {self.task.file_name(name): net for name, net in self.task.networks.items()}
        files[ckpt.STATE_FILE] = self.trainer_state()
        return files

    def trainer_state(self) -> dict[str, Any]:
        np_state = np.random.get_state()
        py_state = random.getstate()
        state = {
            "step": self.state.step,
            "images": self.state.images,
            "loader": self.loader.state_dict(),
            "noise": self.noise.get_state(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                          "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
            "python_rng": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
            "world_size": self.dist.world_size,
            "health": "", "retries": 0,  # a run without the health monitor
            **self.task.state_dict(),
        }
        for callback in self.callbacks:
            state.update(callback.state_dict())
        return state

    def snapshot(self) -> Path | None:
        """Write a checkpoint (rank 0), after checking the weights are finite."""
        if not self.weights_finite():
            self.diverged("a weight")
        self.task.prepare_outputs()
        if not self.dist.is_main:
            return None
        path = ckpt.write_checkpoint(self.run_dir, self.state.step, self.checkpoint_files(), keep=self.cfg.train.keep_checkpoints)
        self.last_good = path
        return path

    def write_named_checkpoint(self, name: str, info: dict[str, Any]) -> Path:
        """A checkpoint outside the rotation (``best``, ``healthy``), with ``info.json`` (rank 0)."""
        return ckpt.write_named_checkpoint(self.run_dir, name, self.checkpoint_files(), info=info)

    def _load_latest(self) -> None:
        path = ckpt.latest_checkpoint(self.run_dir)
        self.load_checkpoint(path, with_callbacks=True)
        self.set_learning_rates()
        if self.health is not None:
            self.health.apply_knobs(self)
        self.last_good = path

    def load_checkpoint(self, path: Path, *, with_callbacks: bool = False) -> dict[str, Any]:
        """Load networks and training state from a checkpoint folder; returns the raw state.
        ``with_callbacks``: also the callbacks' state (a resume; a rollback keeps theirs)."""
        for name, net in self.task.networks.items():
            ckpt.load_into(net, path / self.task.file_name(name))
        state = ckpt.load_state(path / ckpt.STATE_FILE)
        try:
            if int(state["world_size"]) != self.dist.world_size:
                raise GanforgeError(
                    f"checkpoint '{path}' was written by {state['world_size']} processes; resume it with the same number"
                )
            self.state.step, self.state.images = int(state["step"]), int(state["images"])
            self.task.load_state_dict(state)
            self.loader.load_state_dict(state["loader"])
            self.noise.set_state(state["noise"])
            torch.set_rng_state(state["torch_rng"])
            n = state["numpy_rng"]
            np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
            p = state["python_rng"]
            random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
            if with_callbacks:
                for callback in self.callbacks:
                    callback.load_state_dict(state)
        except (KeyError, TypeError, ValueError) as err:
            raise GanforgeError(f"trainer state in '{path}' is incomplete or damaged ({type(err).__name__}: {err})") from None
        return state

    def diverged(self, what: str = "", *, message: str | None = None) -> None:
        where = f"last good checkpoint: {self.last_good}" if self.last_good else "no checkpoint was written yet"
        message = message.rstrip(".") if message else f"{what} became NaN or infinite at step {self.state.step} (kimg {self.state.images / 1000:.1f})"
        raise TrainingDiverged(
            f"{message}; {where}; lower train.g_lr / train.d_lr or raise loss.r1_gamma, then resume or restart "
            "(health.policy=recover does this automatically)"
        )
