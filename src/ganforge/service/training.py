"""Training runs: start a run from a preset, or resume one, and report progress."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import RESUME_OVERRIDABLE, apply_overrides, parse_overrides, save_config_yaml
from ..errors import GanforgeError
from ..schema import load_yaml
from ..tasks import build_config, load_config
from .progress import Progress, report


@dataclass
class TrainResult:
    run_dir: Path
    checkpoint: Path | None  # the last checkpoint written (None on ranks other than 0)
    samples: Path
    is_main: bool  # rank 0 of a multi-process run (the one that should speak)


def _progress_callback(progress: Progress):
    from ..training import Callback

    class ReportProgress(Callback):
        def on_log(self, loop, entry: dict[str, Any]) -> None:
            numbers = {k: v for k, v in entry.items() if k.startswith(("loss_", "img_per_s"))}
            report(progress, "train", loop.images, loop.total_images, "img", numbers)

    return ReportProgress()


def prepare(config: str | Path | None, overrides: list[str] | tuple[str, ...] = (), *, run_dir: Path | None = None,
            resume: Path | None = None, quiet: bool = False, command: str | None = None, progress: Progress = None):
    """A :class:`~ganforge.training.Trainer` for a new run (``config`` + ``overrides``) or for
    continuing ``resume`` (only :data:`RESUME_OVERRIDABLE` keys may change then)."""
    from ..training import Trainer

    callbacks = [_progress_callback(progress)] if progress is not None else []
    if resume is not None:
        cfg_file = Path(resume) / "config.yaml"
        if not cfg_file.is_file():
            raise GanforgeError(f"'{resume}' is not a run folder (no config.yaml); resume takes a folder made by ganforge train")
        changes = parse_overrides(overrides)
        bad = [k for k in changes if k not in RESUME_OVERRIDABLE]
        if bad:
            raise GanforgeError(f"'{bad[0]}' cannot change on resume (it would change the training itself); "
                                f"allowed: {', '.join(RESUME_OVERRIDABLE)}")
        cfg = build_config(apply_overrides(load_yaml(cfg_file.read_text()), changes))
        trainer = Trainer(cfg, resume, resume=True, quiet=quiet, command=command, callbacks=callbacks)
        if changes and trainer.dist.is_main:
            save_config_yaml(trainer.cfg, Path(resume) / "config.yaml")
        return trainer
    if config is None:
        raise GanforgeError("give a CONFIG file (for example configs/fashion-cgan.yaml) or a run folder to resume")
    cfg = load_config(config, overrides)
    if run_dir is None:
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise GanforgeError("under torchrun, pass --run-dir (a run folder) so every process writes to the same one")
        run_dir = Path("runs") / f"{cfg.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    return Trainer(cfg, run_dir, quiet=quiet, command=command, callbacks=callbacks)


def summary(trainer) -> str:
    """One line saying what a prepared run will do."""
    cfg = trainer.cfg
    return (f"training {trainer.task.summary()} on {cfg.data.dataset} [{len(trainer.dataset)} examples] for "
            f"{cfg.train.kimg:g} kimg on {trainer.device} -> {trainer.run_dir}")


def train(config: str | Path | None, overrides: list[str] | tuple[str, ...] = (), *, run_dir: Path | None = None,
          resume: Path | None = None, quiet: bool = False, command: str | None = None,
          progress: Progress = None) -> TrainResult:
    """Train to the end of ``train.kimg`` (see :func:`prepare`); Ctrl-C saves a checkpoint and re-raises."""
    return finish(prepare(config, overrides, run_dir=run_dir, resume=resume, quiet=quiet, command=command,
                          progress=progress))


def finish(trainer) -> TrainResult:
    """Run a prepared trainer to its end."""
    try:
        out = trainer.fit()
    finally:
        trainer.dist.close()
    return TrainResult(out, trainer.last_good, out / "samples" / "latest.png", trainer.dist.is_main)
