"""Training: the Trainer, augmentation, the health monitor, checkpoints, logging and data parallelism."""

from .trainer import Trainer, TrainingDiverged, TrainingUnhealthy

__all__ = ["Trainer", "TrainingDiverged", "TrainingUnhealthy"]
