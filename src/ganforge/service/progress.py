"""Progress reports from long service calls, for any front end (a terminal bar, server-sent events)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units (``unit``: "img", "image", "step") of ``stage``; ``info``: numbers
    worth showing (losses, img/s)."""

    stage: str
    done: int
    total: int | None
    unit: str = ""
    info: dict | None = None


Progress = Optional[Callable[[ProgressEvent], None]]


def report(progress: Progress, *args, **kwargs) -> None:
    if progress is not None:
        progress(ProgressEvent(*args, **kwargs))
