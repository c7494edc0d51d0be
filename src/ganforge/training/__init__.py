"""Training: the Trainer, checkpoints, logging and data parallelism."""

from .trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainingDiverged"]
