"""What the loop shares with its callbacks, below both: the loop imports the callbacks, and the
callbacks import this, never the loop.

:class:`LoopState` is the loop's progress: the loop advances ``step`` and ``images``; the health
callback sets ``lr_factors`` (its recovery knobs), which :meth:`Loop.set_learning_rates` applies.
:class:`Loop` is everything else a callback may use of the loop (``training/loop.py``'s
``Trainer`` is one), so a callback cannot reach further into the loop than this page says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from ..config import TaskConfig
    from ..tasks.base import Task
    from .distributed import DistContext
    from .logger import RunLogger


@dataclass
class LoopState:
    """A run's progress, saved in every checkpoint's trainer state (``step``, ``images``)."""

    total_images: int  # the run's length, from train.kimg
    step: int = 0  # optimisation steps done
    images: int = 0  # real examples consumed, over all ranks (the loop's clock)
    lr_factors: dict[str, float] = field(default_factory=dict)  # role -> factor (the health monitor's recovery knobs)

    @property
    def kimg(self) -> float:
        """``images`` in thousands, rounded as logs and checkpoint records show it."""
        return round(self.images / 1000, 3)


class Loop(Protocol):
    """What a callback may use of the training loop: its state, its run and a few actions."""

    state: LoopState
    cfg: "TaskConfig"
    task: "Task"
    dist: "DistContext"
    device: "torch.device"
    run_dir: Path
    logger: "RunLogger"

    def notify(self, hook: str, *args: Any) -> None:
        """Call ``hook`` on every callback."""

    def snapshot(self) -> Path | None:
        """Write a checkpoint of the current step (main rank); its path."""

    def write_named_checkpoint(self, name: str, info: dict[str, Any]) -> Path:
        """Write the current state as a named checkpoint (``best``, ``healthy``)."""

    def set_learning_rates(self) -> None:
        """Apply the schedule and ``state.lr_factors`` to every optimiser."""

    def weights_finite(self) -> bool:
        """Every network's weights are finite."""

    def load_checkpoint(self, path: Path, *, with_callbacks: bool = False) -> dict[str, Any]:
        """Restore networks, optimisers, random streams and ``state`` from ``path``."""

    def reseed_noise(self, retry: int) -> None:
        """Reseed the task's noise stream for recovery attempt ``retry``."""

    def diverged(self, what: str = "", *, message: str | None = None) -> None:
        """Stop the run: raise TrainingDiverged."""
