"""What the front ends call: train, generate, apply, evaluate, export, export_onnx, describe, latent tools.

Every function takes plain arguments, returns a result (a dataclass or a path) or raises a
:class:`~ganforge.errors.GanforgeError` (typed: ``TrainingDiverged``, ``TrainingUnhealthy``, ...),
and reports progress through an optional ``progress(event)`` callback. None of them prints or
exits: the CLI (``cli.py``) and the REST server of a later release decide how to show results
and errors.
"""

from .evaluation import EvalOutcome, evaluate
from .models import ApplyResult, GenerateResult, apply, describe, export, export_onnx, generate, list_traits
from .progress import Progress, ProgressEvent
from .training import TrainResult, train

__all__ = ["ApplyResult", "EvalOutcome", "evaluate", "GenerateResult", "Progress", "ProgressEvent", "TrainResult", "apply", "describe", "export", "export_onnx",
           "generate", "list_traits", "train"]
