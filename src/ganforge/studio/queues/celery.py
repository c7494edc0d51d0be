"""The Celery queue: jobs run by ``ganforge worker`` processes on any machine that reaches Redis.

Redis is the only thing the server and its workers share: no common filesystem. Input images
and results travel as Redis lists of raw byte chunks next to the messages, not inside them (a
job of 100 photos of 25 MiB would make a 3-GiB message; a Redis string holds 512 MiB).

Server (:class:`CeleryQueue`), two threads:

* the dispatcher claims queued jobs from the store (``store.claim``: running, attempt + 1),
  copies their input images into Redis, records the attempt (``attempt:{job}``) and sends the
  Celery task ``ganforge.run_job`` with the job's spec (JSON). Every few seconds it also keeps the
  heartbeat of *waiting* jobs fresh and re-queues stale ones (``store.requeue_stale``).
* the collector pops the workers' events from one Redis list (``events``) and applies them to the
  store through a :class:`~.base.StoreSink`: item progress, result files, heartbeats, the finish.

Worker (:func:`run_job`): claims the attempt (``claim:{job}:{attempt}``, SET NX), runs
``runner.execute`` with a :class:`RedisSink` (events pushed to the list, results as Redis
lists of byte chunks) and sends a heartbeat from a thread while it runs.

Waiting is not stale. A job's message may wait in the broker for a free worker for as long as
the other jobs take, and the store's staleness must not re-queue it meanwhile. A job is
*waiting* when Redis holds its current attempt and no worker has claimed that attempt yet;
the dispatcher refreshes the heartbeat of waiting jobs, and from the claim on only the worker's
heartbeats do. Whether a job waits is read from Redis, not from the server's memory, so a
restarted server keeps waiting jobs waiting (their messages are still in the broker) instead of
sending them again, and a Redis that lost its data leaves no attempt key, so those jobs go stale
and are sent again. One gap: a worker killed in the milliseconds between taking a message and
claiming it leaves the message unacked, and Redis hands it out again only after the broker's
``visibility_timeout`` (an hour by default), so that job starts late.

To keep the store (not the broker) the queue, at most ``prefetch`` jobs wait at a time; the
rest stay ``queued`` (cancellable at once, in order). A waiting job shows as ``running`` with
no progress.

Duplicates never run twice: a message whose attempt is no longer Redis's current one (the job
was re-queued, cancelled or finished) is dropped, and of two deliveries of the same attempt
(the broker's redelivery after ``visibility_timeout``, or a ``task_reject_on_worker_lost``
requeue) only the one that wins the claim runs. A worker that dies mid-job stops its heartbeat;
the job is re-queued after ``stale_seconds`` and sent again with the next attempt, and items
that already succeeded are not run again.

Keys are namespaced ``ganforge:{ns}:`` by a random id kept in the data dir (``celery-namespace``:
a restarted server finds its jobs' keys), so studios can share one Redis; workers serve any
studio (the message names its namespace). Celery's queue is ``ganforge``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from ...errors import GanforgeError
from ..runner import RESULT_NAME, Cancelled, JobSpec, execute
from ..store import Store
from .base import JobQueue, StoreSink, heartbeat_interval, job_spec

log = logging.getLogger("ganforge.studio")

TASK = "ganforge.run_job"
CELERY_QUEUE = "ganforge"
PAYLOAD_VERSION = 2  # 2: items name their inputs ({input: upload id}); results carry a media type
CHUNK = 64 * 2**20  # bytes per Redis list element (a Redis string holds at most 512 MiB)
BLOB_TTL = 7 * 86400  # seconds: inputs, results and attempt keys outlive any sane wait, then expire
FLAG_TTL = 86400  # seconds: cancel and claim keys
ITEM_FIELDS = {"status", "done", "total", "error"}  # what a worker's item event may set
ITEM_STATUSES = {"running", "failed"}  # "succeeded" only comes with a result
HEX_ID = re.compile(r"^[0-9a-f]{24}$")
MEDIA_TYPE = re.compile(r"^[a-z]+/[a-z0-9.+-]{1,60}$")  # a result's media type, as a worker reports it
NAMESPACE_FILE = "celery-namespace"


class Keys:
    """The Redis keys of one studio (namespace ``ns``)."""

    def __init__(self, ns: str) -> None:
        self.ns = ns
        self.prefix = f"ganforge:{ns}:"
        self.events = self.prefix + "events"

    def attempt(self, job: str) -> str:
        return f"{self.prefix}attempt:{job}"

    def cancel(self, job: str) -> str:
        return f"{self.prefix}cancel:{job}"

    def claim(self, job: str, attempt: int) -> str:
        return f"{self.prefix}claim:{job}:{attempt}"

    def input(self, job: str, upload_id: str) -> str:
        return f"{self.prefix}input:{job}:{upload_id}"

    def result(self, job: str, attempt: int, idx: int) -> str:
        return f"{self.prefix}result:{job}:{attempt}:{idx}"


def safe_url(url: str) -> str:
    """The broker URL without its password (for logs, errors and /v1/health)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, *, timeout: float | None = 5.0):
    """A Redis client for ``url``, pinged: a :class:`GanforgeError` in one line if unreachable."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, health_check_interval=30)
    try:
        client.ping()
    except redis.RedisError as err:
        client.close()
        reason = " ".join(str(err).split()) or type(err).__name__
        raise GanforgeError(f"cannot reach Redis at {safe_url(url)} ({reason}); start redis-server there or "
                            "fix --queue redis://HOST:PORT/DB") from None
    return client


def put_blob(client, key: str, data: bytes, ttl: int = BLOB_TTL) -> None:
    """Store ``data`` under ``key`` as a list of chunks (one transaction)."""
    pipe = client.pipeline()
    pipe.delete(key)
    for i in range(0, max(len(data), 1), CHUNK):
        pipe.rpush(key, data[i:i + CHUNK])
    pipe.expire(key, ttl)
    pipe.execute()


def get_blob(client, key: str) -> bytes | None:
    chunks = client.lrange(key, 0, -1)
    return b"".join(chunks) if chunks else None


def make_celery(url: str):
    """The Celery app both sides use: JSON messages, late acks, one message at a time per process."""
    from celery import Celery

    app = Celery("ganforge", broker=url, set_as_current=False)
    app.conf.update(
        task_serializer="json", accept_content=["json"], task_ignore_result=True, task_default_queue=CELERY_QUEUE,
        task_acks_late=True,  # a message is acked when the job ends, so a lost worker's message is not lost
        task_reject_on_worker_lost=True,  # a killed pool process puts its message back (the claim drops it)
        worker_prefetch_multiplier=1,  # a busy worker holds no message another worker could run
        broker_connection_retry_on_startup=True,
    )

    @app.task(name=TASK, bind=True, ignore_result=True)
    def run(task, payload: dict[str, Any]) -> str:
        return run_job(payload, task.app.conf.broker_url)

    return app


def namespace(store: Store) -> str:
    """This studio's Redis namespace: a random id kept in its data dir (stable across restarts)."""
    from ...fileio import atomic_write_bytes

    path = store.data_dir / NAMESPACE_FILE
    try:
        ns = path.read_text().strip()
    except FileNotFoundError:
        ns = ""
    if not re.fullmatch(r"[0-9a-f]{16}", ns):
        ns = secrets.token_hex(8)
        atomic_write_bytes(path, ns.encode())
    return ns


# Server side ----------------------------------------------------------------------------------


class CeleryQueue(JobQueue):
    """Sends the store's queued jobs to Celery workers through Redis and applies their events.

    url: ``redis://[:PASSWORD@]HOST:PORT/DB``, the broker the workers use.
    stale_seconds: a started job without a worker heartbeat this long is re-queued.
    prefetch: jobs sent ahead of a free worker (waiting in the broker) at most.
    """

    def __init__(self, store: Store, url: str, *, stale_seconds: float = 30.0, prefetch: int = 2,
                 poll: float = 1.0) -> None:
        super().__init__(store, stale_seconds=stale_seconds)
        if prefetch < 1:
            raise GanforgeError(f"prefetch must be at least 1, got {prefetch}")
        self.url, self.prefetch, self.poll = url, prefetch, poll
        self.interval = heartbeat_interval(stale_seconds)
        self.redis = connect(url)
        self.keys = Keys(namespace(store))
        self.celery = make_celery(url)

    def threads(self) -> list[tuple[str, Callable[[], None]]]:
        return [("ganforge-dispatch", self._dispatch_loop), ("ganforge-collect", self._collect_loop)]

    def close(self) -> None:
        self.celery.close()
        self.redis.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": "celery", "broker": safe_url(self.url)}

    def cancel(self, job_id: str) -> None:
        """Tell the job's worker; a job still waiting for one ends now (its message is dropped later)."""
        job = self.store.job(job_id)
        if job is None or job["status"] != "running":
            return
        self.redis.set(self.keys.cancel(job_id), b"1", ex=FLAG_TTL)
        if job_id in self._waiting():
            self.store.finish(job_id, job["attempts"], None)  # the cancel flag makes it "cancelled"
            self._forget(job_id, job["attempts"])

    # Dispatcher -------------------------------------------------------------------------------

    def _waiting(self) -> list[str]:
        """Running jobs whose current attempt no worker has claimed yet (their message waits)."""
        rows = self.store.query("SELECT id, attempts FROM jobs WHERE status = 'running'")
        if not rows:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for r in rows:
            pipe.get(self.keys.attempt(r["id"]))
            pipe.exists(self.keys.claim(r["id"], r["attempts"]))
        answers = pipe.execute()
        return [r["id"] for i, r in enumerate(rows)
                if answers[2 * i] == str(r["attempts"]).encode() and not answers[2 * i + 1]]

    def _dispatch_loop(self) -> None:
        # A restarted server first hears its workers' heartbeats before judging any job stale.
        requeue_after = time.monotonic() + 2 * self.interval
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                waiting = self._waiting()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.interval
                    self.store.heartbeat(waiting)
                    if time.monotonic() >= requeue_after and self._requeue_stale():
                        continue  # claim the re-queued jobs now
                for _ in range(self.prefetch - len(waiting)):
                    if not self._send_next():
                        break
            except Exception:  # Redis or the database briefly unavailable: try again next round
                log.exception("dispatching jobs failed")
            self._wake.wait(min(self.poll, self.interval))
            self._wake.clear()

    def _requeue_stale(self) -> bool:
        """Re-queue jobs whose worker went quiet; forget the keys of those that ended (tried too often)."""
        stale = self.store.requeue_stale(self.stale_seconds)
        for job_id in stale:
            job = self.store.job(job_id)
            if job["status"] != "queued":
                self._forget(job_id, job["attempts"])
        return bool(stale)

    def _send_next(self) -> bool:
        job = self.store.claim(f"celery:{self.keys.prefix}")
        if job is None:
            return False
        spec = job_spec(self.store, job)
        try:
            for upload_id in {u for it in spec.items for u in (it["inputs"] or {}).values()}:
                try:
                    data = self.store.upload_path(upload_id).read_bytes()
                except OSError:  # the worker fails just this item ("input is gone"), as the local queue would
                    log.warning("upload %s of job %s is missing from the data dir", upload_id, spec.id)
                    continue
                put_blob(self.redis, self.keys.input(spec.id, upload_id), data)
            # The attempt key before the message: a worker must never see a message newer than Redis's attempt.
            self.redis.set(self.keys.attempt(spec.id), str(spec.attempt).encode(), ex=BLOB_TTL)
            payload = {"v": PAYLOAD_VERSION, "ns": self.keys.ns, "heartbeat": self.interval,
                       "job": spec.to_dict()}
            self.celery.send_task(TASK, args=[payload], queue=CELERY_QUEUE)
        except Exception:
            # Not waiting (no attempt key): the job goes stale and is sent again.
            log.exception("sending job %s to Celery failed", spec.id)
            try:
                self.redis.delete(self.keys.attempt(spec.id))
            except Exception:
                pass
            return False
        log.info("job %s (attempt %d) sent to Celery", spec.id, spec.attempt)
        return True

    def _forget(self, job_id: str, attempt: int) -> None:
        """Delete a finished job's keys (its inputs, attempt, cancel flag and every attempt's claim)."""
        uploads = {u for it in self.store.items(job_id) for u in (it["inputs"] or {}).values()}
        self.redis.delete(self.keys.attempt(job_id), self.keys.cancel(job_id),
                          *(self.keys.claim(job_id, a) for a in range(1, attempt + 1)),
                          *(self.keys.input(job_id, u) for u in uploads))

    # Collector --------------------------------------------------------------------------------

    def _collect_loop(self) -> None:
        import redis

        while not self._stop.is_set():
            try:
                popped = self.redis.blpop([self.keys.events], timeout=1)
            except redis.RedisError:
                log.exception("reading worker events failed")
                self._stop.wait(1.0)
                continue
            if popped is None:
                continue
            try:
                self._apply(json.loads(popped[1]))
            except Exception:  # one bad event must not stop the others; the job's heartbeat decides
                log.exception("applying a worker event failed: %.200r", popped[1])

    def _apply(self, event: dict[str, Any]) -> None:
        kind, job_id, attempt = event["type"], str(event["job"]), int(event["attempt"])
        if not HEX_ID.match(job_id):
            raise ValueError(f"bad job id {job_id!r}")
        sink = StoreSink(self.store, job_id, attempt)
        if kind == "started":
            if self.store.is_current(job_id, attempt):
                self.store.heartbeat([job_id])
                log.info("job %s (attempt %d) started on %s", job_id, attempt, event.get("worker"))
            self._wake.set()  # a waiting slot is free
        elif kind == "heartbeat":
            if self.store.is_current(job_id, attempt):
                self.store.heartbeat([job_id])
        elif kind == "item":
            fields = event["fields"]
            if not set(fields) <= ITEM_FIELDS or fields.get("status", "running") not in ITEM_STATUSES:
                raise ValueError(f"bad item fields {fields!r}")
            sink.item(int(event["idx"]), **fields)
        elif kind == "result":
            key = self.keys.result(job_id, attempt, int(event["idx"]))
            data = get_blob(self.redis, key)
            self.redis.delete(key)
            media_type = str(event.get("media_type", ""))
            if data is None or not RESULT_NAME.match(event["name"]) or not MEDIA_TYPE.match(media_type):
                raise ValueError(f"result {event['name']!r} ({media_type!r}) of job {job_id} missing or misnamed")
            sink.result(int(event["idx"]), event["name"], data, media_type)
        elif kind == "finish":
            error = event.get("error")
            status = self.store.finish(job_id, attempt, None if error is None else str(error)[:2000])
            if status is not None:
                self._forget(job_id, attempt)
                log.info("job %s %s", job_id, status)
            self._wake.set()
        else:
            raise ValueError(f"unknown event type {kind!r}")


# Worker side ----------------------------------------------------------------------------------


class RedisSink:
    """The runner's sink on a worker: events into the studio's Redis list."""

    def __init__(self, client, keys: Keys, job_id: str, attempt: int) -> None:
        self.client, self.keys, self.job_id, self.attempt = client, keys, job_id, attempt

    def push(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "job": self.job_id, "attempt": self.attempt, **fields}
        self.client.rpush(self.keys.events, json.dumps(event))

    def current(self) -> bool:
        return self.client.get(self.keys.attempt(self.job_id)) == str(self.attempt).encode()

    def item(self, idx: int, **fields: Any) -> bool:
        self.push("item", idx=idx, fields=fields)
        return self.current()

    def result(self, idx: int, name: str, data: bytes, media_type: str) -> bool:
        put_blob(self.client, self.keys.result(self.job_id, self.attempt, idx), data)
        self.push("result", idx=idx, name=name, media_type=media_type)
        return self.current()

    def cancelled(self) -> bool:
        attempt, cancel = self.client.mget(self.keys.attempt(self.job_id), self.keys.cancel(self.job_id))
        return cancel is not None or attempt != str(self.attempt).encode()


class _Heartbeat:
    """Sends ``sink``'s heartbeat every ``interval`` seconds until stopped."""

    def __init__(self, sink: RedisSink, interval: float) -> None:
        self.sink, self.interval = sink, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ganforge-job-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sink.push("heartbeat")
            except Exception:  # Redis briefly away: the next beat may get through
                log.warning("heartbeat of job %s failed", self.sink.job_id, exc_info=True)

    def __enter__(self) -> "_Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_job(payload: dict[str, Any], url: str) -> str:
    """The Celery task's body: run one attempt of a studio job, reporting to the Redis at ``url``;
    returns what happened (for Celery's log)."""
    spec = JobSpec(**payload["job"])
    keys = Keys(str(payload["ns"]))
    client = connect(url)
    try:
        return _run_attempt(client, keys, spec, payload)
    finally:
        client.close()


def _run_attempt(client, keys: Keys, spec: JobSpec, payload: dict[str, Any]) -> str:
    import socket

    # Claim first: whatever happens next, this attempt is no longer "waiting" for the server.
    worker = f"{socket.gethostname()}:{os.getpid()}"  # which process runs the job, for people (and tests)
    if not client.set(keys.claim(spec.id, spec.attempt), worker.encode(), nx=True, ex=FLAG_TTL):
        return f"job {spec.id} attempt {spec.attempt}: already claimed, dropped"
    sink = RedisSink(client, keys, spec.id, spec.attempt)
    if not sink.current():
        client.delete(keys.claim(spec.id, spec.attempt))  # nobody waits for this attempt: leave no key
        return f"job {spec.id} attempt {spec.attempt}: superseded, dropped"
    sink.push("started", worker=worker)
    if payload.get("v") != PAYLOAD_VERSION:
        sink.push("finish", error=f"the worker's ganforge speaks job format {PAYLOAD_VERSION}, the server's "
                                  f"{payload.get('v')}: install the same ganforge version on both")
        return f"job {spec.id}: format mismatch"
    error: str | None
    with tempfile.TemporaryDirectory(prefix="ganforge-job-") as tmp, \
            _Heartbeat(sink, float(payload.get("heartbeat", 5.0))):
        def input_path(upload_id: str) -> Path:
            if not HEX_ID.match(upload_id):
                raise GanforgeError(f"bad upload id {upload_id!r}")
            path = Path(tmp) / upload_id
            if not path.exists():
                data = get_blob(client, keys.input(spec.id, upload_id))
                if data is None:
                    raise GanforgeError(f"input {upload_id} is gone from Redis (expired or deleted); submit it again")
                path.write_bytes(data)
            return path

        try:
            error = execute(spec, input_path, sink)
        except Cancelled:
            if not sink.current():
                return f"job {spec.id} attempt {spec.attempt}: superseded while running"
            error = None  # the server marks the job cancelled: its cancel flag is set
        except Exception as err:  # a programming error fails the job with its reason, never loses it
            log.exception("job %s failed", spec.id)
            error = f"internal error: {type(err).__name__}: {err}"
    sink.push("finish", error=error)
    return f"job {spec.id} attempt {spec.attempt}: {'failed: ' + error if error else 'done'}"


def run_worker(url: str, *, concurrency: int = 1, name: str | None = None) -> None:
    """Run a Celery worker for ``url`` until stopped: ``concurrency`` jobs at once (processes).

    One job at a time runs in the worker's own process (Celery's solo pool, so torch keeps its
    threads); more use a prefork pool whose processes share the cores (torch threads = cores /
    concurrency unless OMP_NUM_THREADS says otherwise).
    """
    if not url.startswith(("redis://", "rediss://")):
        raise GanforgeError(f"--queue '{url}': a worker needs a Redis broker, redis://HOST:PORT/DB")
    connect(url).close()
    app = make_celery(url)
    app.set_current()
    if concurrency > 1:
        from celery.signals import worker_process_init

        def share_cores(**_: Any) -> None:
            if "OMP_NUM_THREADS" not in os.environ:
                import torch

                torch.set_num_threads(max(1, (os.cpu_count() or 1) // concurrency))

        worker_process_init.connect(share_cores, weak=False)
    argv = ["worker", "--loglevel=INFO", f"--concurrency={concurrency}",
            f"--pool={'prefork' if concurrency > 1 else 'solo'}", f"--queues={CELERY_QUEUE}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if name:
        argv.append(f"--hostname={name}")
    app.worker_main(argv)
