"""Training: one loop for every task (``loop.py``), its callbacks (EMA, samples, checkpoints,
evaluation, health), pure schedules, the health monitor, logging and data parallelism.

Nothing here knows a task, model family, loss or data set by name.
"""

from ..errors import TrainingDiverged, TrainingUnhealthy
from .callbacks import Callback
from .loop import Trainer
from .state import Loop, LoopState

__all__ = ["Callback", "Loop", "LoopState", "Trainer", "TrainingDiverged", "TrainingUnhealthy"]
