"""The queue interface and what every queue shares: job specs from the store, the store's sink."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable

from ..runner import JobSpec
from ..store import Store


def heartbeat_interval(stale_seconds: float) -> float:
    """Seconds between heartbeats: several per ``stale_seconds``."""
    return max(0.2, min(5.0, stale_seconds / 4))


class JobQueue(ABC):
    """Runs the store's queued jobs with background threads of this process (workers, or a
    dispatcher and a collector). The server calls ``start`` once, ``notify`` after queueing a job
    (a hint: threads also poll), ``cancel`` after a cancel request and ``stop`` at shutdown.
    Subclasses name their threads in ``threads()``; each loop ends when ``_stop`` is set."""

    def __init__(self, store: Store, *, stale_seconds: float = 30.0) -> None:
        self.store = store
        self.stale_seconds = stale_seconds  # a running job without a heartbeat this long is re-queued
        self._wake = threading.Event()  # set by notify: a job may be waiting
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @abstractmethod
    def threads(self) -> list[tuple[str, Callable[[], None]]]:
        """(name, loop) of each background thread."""

    def start(self) -> None:
        self._stop.clear()
        self._threads = [threading.Thread(target=loop, name=name, daemon=True) for name, loop in self.threads()]
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self.close()

    def close(self) -> None:
        """Release connections after the threads stopped."""

    def notify(self) -> None:
        """A job was queued."""
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        """The store marked ``job_id`` for cancellation; tell its worker if it cannot see the store."""

    def describe(self) -> dict[str, Any]:
        return {"kind": type(self).__name__}


def job_spec(store: Store, job: dict) -> JobSpec:
    """A claimed job as the runner's spec (items with their upload's file name)."""
    import json

    items = []
    for it in store.items(job["id"]):
        upload = store.upload(it["upload_id"]) if it["upload_id"] else None
        items.append({"idx": it["idx"], "label": it["label"], "upload_id": it["upload_id"], "seed": it["seed"],
                      "inputs": it["inputs"], "status": it["status"], "name": upload["filename"] if upload else None})
    return JobSpec(id=job["id"], attempt=job["attempts"], tool=job["tool"], model=job["model"],
                   params=json.loads(job["params"]), items=items)


class StoreSink:
    """A runner sink writing straight to the store (workers that share the server's data dir)."""

    def __init__(self, store: Store, job_id: str, attempt: int) -> None:
        self.store, self.job_id, self.attempt = store, job_id, attempt

    def item(self, idx: int, **fields: Any) -> bool:
        return self.store.item_update(self.job_id, self.attempt, idx, **fields)

    def result(self, idx: int, name: str, data: bytes, media_type: str) -> bool:
        from ...fileio import atomic_write_bytes

        if not self.store.is_current(self.job_id, self.attempt):
            return False
        folder = self.store.result_dir(self.job_id)
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(folder / name, data)
        return self.store.item_update(self.job_id, self.attempt, idx, status="succeeded", result=name,
                                      media_type=media_type, error=None)

    def cancelled(self) -> bool:
        return self.store.cancel_requested(self.job_id)


def input_path(store: Store) -> "callable":
    def path(upload_id: str) -> Path:
        return store.upload_path(upload_id)
    return path
