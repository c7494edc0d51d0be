"""The default queue: worker threads in the server process, taking jobs from the store."""

from __future__ import annotations

import logging
import threading
from typing import Callable

from ...errors import GanforgeError
from ..runner import Cancelled, execute
from ..store import Store, new_id
from .base import JobQueue, StoreSink, heartbeat_interval, input_path, job_spec

log = logging.getLogger("ganforge.studio")


class LocalQueue(JobQueue):
    """``workers`` threads; each claims the oldest queued job, runs it and claims the next. A
    heartbeat thread keeps this process's running jobs fresh and re-queues other workers' stale
    ones (a server killed mid-job: its jobs run again after a restart)."""

    def __init__(self, store: Store, *, workers: int = 1, stale_seconds: float = 30.0, poll: float = 1.0) -> None:
        super().__init__(store, stale_seconds=stale_seconds)
        if workers < 1:
            raise GanforgeError(f"--workers must be at least 1, got {workers}")
        self.workers, self.poll = workers, poll
        self.id = new_id()
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def threads(self) -> list[tuple[str, Callable[[], None]]]:
        return [(f"ganforge-worker-{i}", self._work) for i in range(self.workers)] + [("ganforge-heartbeat", self._beat)]

    def describe(self) -> dict:
        return {"kind": "local", "workers": self.workers}

    def _beat(self) -> None:
        while not self._stop.wait(heartbeat_interval(self.stale_seconds)):
            try:
                with self._lock:
                    running = list(self._running)
                self.store.heartbeat(running)
                if self.store.requeue_stale(self.stale_seconds):
                    self._wake.set()
            except Exception:  # a busy database must not stop the heartbeat
                log.exception("heartbeat failed")

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self.store.claim(self.id)
            except Exception:
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(self.poll)
                self._wake.clear()
                continue
            self.run(job)

    def run(self, job: dict) -> None:
        with self._lock:
            self._running.add(job["id"])
        try:
            spec = job_spec(self.store, job)
            sink = StoreSink(self.store, spec.id, spec.attempt)
            try:
                error = execute(spec, input_path(self.store), sink)
            except Cancelled:
                error = None
            except Exception as err:  # a programming error fails the job with its reason, never loses it
                log.exception("job %s failed", spec.id)
                error = f"internal error: {type(err).__name__}: {err}"
            self.store.finish(spec.id, spec.attempt, error)
        finally:
            with self._lock:
                self._running.discard(job["id"])
