"""Running one job's items with a service tool, for any queue.

:func:`execute` is the only place a job turns into work. It reports through a :class:`Sink`
(the local queue's writes to the store; a Celery worker's events to the server), so a job runs
the same in the server's threads and on another machine. Items that already succeeded (a job
re-queued after a restart) are not run again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from ..errors import GanforgeError

PROGRESS_EVERY = 0.5  # seconds between progress writes within one item


class Cancelled(Exception):
    """The job was cancelled (or superseded by a newer attempt) while an item ran."""


@dataclass
class JobSpec:
    id: str
    attempt: int
    tool: str
    model: str
    params: dict[str, Any]
    # idx, label, seed, status, upload_id (the item's own upload), inputs ({input name: upload id}), name
    items: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "attempt": self.attempt, "tool": self.tool, "model": self.model,
                "params": self.params, "items": self.items}


class Sink(Protocol):
    def item(self, idx: int, **fields: Any) -> bool:
        """Set an item's status / done / total / error; False when this attempt is no longer current."""

    def result(self, idx: int, name: str, data: bytes, media_type: str) -> bool:
        """Store an item's result file (``media_type``) and mark it succeeded."""

    def cancelled(self) -> bool:
        """Whether the job should stop."""


RESULT_NAME = re.compile(r"^[0-9]{4}-[A-Za-z0-9._-]{1,60}\.[a-z0-9]{1,8}$")  # what result_name makes


def result_name(idx: int, item: dict[str, Any], suffix: str) -> str:
    """A result's file name: from the upload's file name or the seed and the result's suffix
    (``.png``, ``.csv``), never a path."""
    base = item.get("name") or (f"seed-{item['seed']}" if item.get("seed") is not None else "result")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(base)).stem).strip(".-")[:60] or "result"
    ext = re.sub(r"[^a-z0-9]", "", suffix.lower())[:8] or "bin"
    return f"{idx + 1:04d}-{stem}.{ext}"


def execute(spec: JobSpec, input_path: Callable[[str], Path], sink: Sink) -> str | None:
    """Run the job's unfinished items; returns a job-level error (None when the items ran).

    A bad input or a model error fails its item and the job goes on; cancellation stops at the
    next item or tile.
    """
    from ..data.imageio import BadImageError
    from ..service.tools import TOOLS, Item, run_item

    try:
        tool = TOOLS.get(spec.tool)
        params = tool.parse(spec.params)
        pipe = tool.pipeline(spec.model)
    except GanforgeError as err:
        return str(err)
    for it in spec.items:
        if it.get("status") == "succeeded":
            continue
        if sink.cancelled():
            raise Cancelled()
        idx = int(it["idx"])
        if not sink.item(idx, status="running", done=0, total=0):
            raise Cancelled()
        last = [0.0]

        def progress(done: int, total: int, idx: int = idx) -> None:
            t = time.monotonic()
            if t - last[0] >= PROGRESS_EVERY or done == total:
                last[0] = t
                if sink.cancelled() or not sink.item(idx, done=done, total=total):
                    raise Cancelled()

        item = Item(label=it["label"], seed=it.get("seed"))
        try:
            sources = {name: input_path(upload_id) for name, upload_id in (it.get("inputs") or {}).items()}
            result = run_item(tool, spec.model, pipe, params, item, sources, progress)
        except Cancelled:
            raise
        except BadImageError as err:  # its message starts with the server's path; the client knows the file's name
            sink.item(idx, status="failed", error=f"{it.get('name') or it['label']}: {err.reason}")
            continue
        except GanforgeError as err:
            sink.item(idx, status="failed", error=str(err))
            continue
        if not sink.result(idx, result_name(idx, it, result.suffix), result.data, result.media_type):
            raise Cancelled()
    return None
