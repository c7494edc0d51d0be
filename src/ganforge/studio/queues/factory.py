"""The queue a server runs, chosen by ``--queue``: the one place that knows every queue class
(``base.py`` holds what the queues share and knows none of them)."""

from __future__ import annotations

from ...errors import GanforgeError
from ..store import Store
from .base import JobQueue
from .celery import CeleryQueue
from .local import LocalQueue


def make_queue(url: str | None, store: Store, *, workers: int = 1, stale_seconds: float = 30.0) -> JobQueue:
    """``None`` or ``local``: worker threads in this process; ``redis://HOST:PORT/DB``: Celery."""
    if url in (None, "", "local"):
        return LocalQueue(store, workers=workers, stale_seconds=stale_seconds)
    if url.startswith(("redis://", "rediss://")):
        return CeleryQueue(store, url, stale_seconds=stale_seconds)
    raise GanforgeError(f"--queue '{url}': use local (the default) or redis://HOST:PORT/DB")
