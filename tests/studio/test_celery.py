"""The Celery queue end to end: a real redis-server on a loopback port and ``ganforge worker``
subprocesses.

Each test uses its own Redis database, so one test's messages never reach another's workers.
Results must equal the local queue's pixel for pixel; a killed worker's job runs again (and only
its unfinished items); a cancel reaches a running worker; a restarted server finds its waiting
and queued jobs and none runs twice.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("celery", reason="the Celery queue needs celery: pip install 'ganforge[studio]'")
redis = pytest.importorskip("redis", reason="the Celery queue needs redis-py: pip install 'ganforge[studio]'")
REDIS_SERVER = shutil.which("redis-server")
if REDIS_SERVER is None:
    pytest.skip("redis-server is not installed (apt install redis-server)", allow_module_level=True)

from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from .conftest import free_port, key, make_app, wait_for  # noqa: E402

pytestmark = pytest.mark.slow

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
UPSCALE = {"tool": "upscale", "model": "photo-upscale-x2", "params": {"tile": 64, "precision": "fp32"}}
GENERATE = {"tool": "generate", "model": "fashion-dcgan", "params": {"seeds": [3, 4], "count": 4}}


@pytest.fixture(scope="module")
def redis_port(tmp_path_factory):
    """A private redis-server (no persistence) on a free loopback port."""
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    yield port
    client.close()
    proc.terminate()
    proc.wait(10)


class Worker:
    """``ganforge worker`` in its own process group (so kill() takes all its processes)."""

    def __init__(self, url: str, log: Path, name: str) -> None:
        self.log = log
        with open(log, "wb") as out:
            command = [sys.executable, "-m", "ganforge.cli", "worker", "--queue", url, "--name", name]
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])


@pytest.fixture(scope="module")
def worker_db0(redis_port, tmp_path_factory):
    """One worker on database 0, shared by the tests that need a worker and nothing more."""
    w = Worker(f"redis://127.0.0.1:{redis_port}/0", tmp_path_factory.mktemp("w0") / "worker.log", "w0")
    yield w
    w.kill()


def png(side: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def upload(client: TestClient, headers: dict, images: list[bytes]) -> list[str]:
    files = [("files", (f"photo{i}.png", data, "image/png")) for i, data in enumerate(images)]
    r = client.post("/v1/uploads", files=files, headers=headers)
    assert r.status_code == 201, r.text
    return [u["id"] for u in r.json()["uploads"]]


def submit(client: TestClient, headers: dict, request: dict, inputs: list[str] = ()) -> str:
    r = client.post("/v1/jobs", json={**request, "inputs": list(inputs)}, headers=headers)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def poll(client: TestClient, job_id: str, headers: dict, until, timeout: float = 60.0, worker: Worker | None = None):
    return wait_for(client, job_id, headers, timeout, until=until, describe=lambda: "\n" + worker.tail() if worker else "")


def pixels(client: TestClient, headers: dict, job: dict) -> list[np.ndarray]:
    return [np.asarray(Image.open(io.BytesIO(client.get(it["result_url"], headers=headers).content)))
            for it in job["items"]]


def leftover_keys(port: int, db: int) -> list[bytes]:
    """Job keys still in Redis (a finished job leaves none)."""
    client = redis.Redis(port=port, db=db)
    try:
        return [k for k in client.scan_iter("ganforge:*") if b":events" not in k]
    finally:
        client.close()


def test_jobs_through_celery_equal_the_local_queue(redis_port, worker_db0, tmp_path):
    images = [png(40, 1), png(56, 2)]
    results = {}
    for name, queue in (("celery", f"redis://127.0.0.1:{redis_port}/0"), ("local", None)):
        app = make_app(tmp_path / name, queue=queue)
        with TestClient(app) as client:
            headers = key(app)
            assert client.get("/v1/health").json()["queue"] == (
                {"kind": "celery", "broker": queue} if queue else {"kind": "local", "workers": 1})
            ids = [submit(client, headers, GENERATE), submit(client, headers, UPSCALE, upload(client, headers, images))]
            jobs = [wait_for(client, i, headers, timeout=90) for i in ids]
            for job in jobs:
                assert job["status"] == "succeeded", (job, worker_db0.tail())
                assert job["attempts"] == 1
            results[name] = [pixels(client, headers, job) for job in jobs]
    for celery_job, local_job in zip(results["celery"], results["local"]):
        assert len(celery_job) == len(local_job) == 2
        for a, b in zip(celery_job, local_job):
            np.testing.assert_array_equal(a, b)
    assert results["celery"][1][1].shape == (112, 112, 3)
    assert leftover_keys(redis_port, 0) == []


def test_cancel_reaches_a_running_celery_job(redis_port, worker_db0, tmp_path):
    app = make_app(tmp_path / "studio", queue=f"redis://127.0.0.1:{redis_port}/0")
    with TestClient(app) as client:
        headers = key(app)
        slow = {**UPSCALE, "params": {**UPSCALE["params"], "tile": 32}}
        job_id = submit(client, headers, slow, upload(client, headers, [png(200, 3), png(200, 4)]))
        poll(client, job_id, headers, lambda j: j["items"][0]["progress"]["done"] > 0, worker=worker_db0)
        assert client.delete(f"/v1/jobs/{job_id}", headers=headers).json()["status"] == "running"
        job = wait_for(client, job_id, headers, timeout=30)
        assert job["status"] == "cancelled", (job, worker_db0.tail())
        assert [it["status"] for it in job["items"]] == ["cancelled", "cancelled"]
        # The worker is free again.
        assert wait_for(client, submit(client, headers, GENERATE), headers, timeout=30)["status"] == "succeeded"
    assert leftover_keys(redis_port, 0) == []


def test_a_killed_workers_job_runs_again_on_another(redis_port, tmp_path):
    url = f"redis://127.0.0.1:{redis_port}/2"
    app = make_app(tmp_path / "studio", queue=url, stale_seconds=3.0)
    workers = [Worker(url, tmp_path / f"{name}.log", name) for name in ("first", "second")]
    try:
        with TestClient(app) as client:
            headers = key(app)
            job_id = submit(client, headers, UPSCALE, upload(client, headers, [png(160, s) for s in range(4)]))
            job = poll(client, job_id, headers, lambda j: j["items"][0]["status"] == "succeeded", timeout=90)
            assert job["status"] == "running" and job["attempts"] == 1
            result = app.state.store.result_dir(job_id) / app.state.store.items(job_id)[0]["result"]
            written = result.stat().st_mtime_ns
            # The claim names the process running the job: kill that worker.
            with redis.Redis(port=redis_port, db=2) as broker:
                claim = broker.get(app.state.queue.keys.claim(job_id, 1))
            assert claim is not None, "the running attempt has no claim"
            running = next(w for w in workers if claim.endswith(f":{w.proc.pid}".encode()))
            running.kill()
            job = wait_for(client, job_id, headers, timeout=90)
            assert job["status"] == "succeeded", (job, [w.tail() for w in workers])
            assert job["attempts"] == 2
            assert [it["status"] for it in job["items"]] == ["succeeded"] * 4
            assert result.stat().st_mtime_ns == written  # the item done before the kill did not run again
    finally:
        for w in workers:
            w.kill()
    assert leftover_keys(redis_port, 2) == []


def test_a_worker_runs_each_attempt_once(redis_port):
    """The task body in-process: a superseded or already claimed message is dropped unrun."""
    from ganforge.studio.queues.celery import PAYLOAD_VERSION, Keys, run_job

    url = f"redis://127.0.0.1:{redis_port}/4"
    client = redis.Redis(port=redis_port, db=4)
    keys, job = Keys("0123456789abcdef"), "ab" * 12
    items = [{"idx": 0, "label": "seed 7", "upload_id": None, "seed": 7, "status": "queued", "name": None}]
    payload = {"v": PAYLOAD_VERSION, "ns": keys.ns, "heartbeat": 1.0,
               "job": {"id": job, "attempt": 2, "tool": "generate", "model": "fashion-dcgan",
                       "params": {"seeds": [7], "count": 2}, "items": items}}
    client.set(keys.attempt(job), b"3")  # the job was re-queued since this message was sent
    assert "superseded" in run_job(payload, url)
    assert not client.exists(keys.claim(job, 2))
    client.set(keys.attempt(job), b"2")
    client.set(keys.claim(job, 2), b"elsewhere:1")  # a second delivery of a running attempt
    assert "already claimed" in run_job(payload, url)
    assert client.llen(keys.events) == 0
    client.delete(keys.claim(job, 2))
    assert run_job(payload, url).endswith("done")
    events = [json.loads(e) for e in client.lrange(keys.events, 0, -1)]
    assert [e["type"] for e in events] == ["started", "item", "item", "result", "finish"]
    assert events[-1]["error"] is None and events[3]["name"] == "0001-seed-7.png"
    assert client.lrange(keys.result(job, 2, 0), 0, -1)[0].startswith(b"\x89PNG")
    client.close()


def test_worker_without_redis_says_so_in_one_line(monkeypatch, capsys):
    from ganforge.cli import main

    monkeypatch.setattr(sys, "argv", ["ganforge", "worker", "--queue", "redis://127.0.0.1:1/0"])
    with pytest.raises(SystemExit) as exit:
        main()
    assert exit.value.code != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Redis at redis://127.0.0.1:1/0"), lines


def test_waiting_and_queued_jobs_survive_a_server_restart(redis_port, tmp_path):
    url = f"redis://127.0.0.1:{redis_port}/3"
    data = tmp_path / "studio"
    app = make_app(data, queue=url, stale_seconds=2.0)
    with TestClient(app) as client:
        headers = key(app)
        ids = [submit(client, headers, {**GENERATE, "params": {"seeds": [s], "count": 2}}) for s in range(4)]
        # No worker: two jobs wait in the broker (prefetch), the others stay queued in the store.
        poll(client, ids[1], headers, lambda j: j["status"] == "running")
        # A waiting job is cancelled at once (its message is dropped later); the next one takes its place.
        assert client.delete(f"/v1/jobs/{ids[0]}", headers=headers).json()["status"] == "running"
        poll(client, ids[2], headers, lambda j: j["status"] == "running")
        assert [client.get(f"/v1/jobs/{i}", headers=headers).json()["status"] for i in ids] == \
               ["cancelled", "running", "running", "queued"]
    time.sleep(2.5)  # down longer than stale_seconds: the waiting jobs' heartbeats are old now
    app = make_app(data, queue=url, stale_seconds=2.0)
    worker = Worker(url, tmp_path / "worker.log", "after-restart")
    try:
        with TestClient(app) as client:
            time.sleep(2.5)  # longer than stale_seconds again, while the worker starts
            jobs = [wait_for(client, i, headers, timeout=60) for i in ids]
            assert [j["status"] for j in jobs] == ["cancelled"] + ["succeeded"] * 3, worker.tail()
            assert [j["attempts"] for j in jobs] == [1, 1, 1, 1]  # waiting was never mistaken for stale
    finally:
        worker.kill()
    assert "superseded, dropped" in worker.tail()  # the cancelled job's message
    assert leftover_keys(redis_port, 3) == []


def test_the_broker_url_is_shown_without_its_password():
    from ganforge.studio.queues.celery import safe_url

    assert safe_url("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert safe_url("rediss://user:s3cret@host/1") == "rediss://user:***@host/1"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
