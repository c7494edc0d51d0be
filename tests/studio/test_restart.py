"""Jobs are never lost: a queued job waits for the next server on the same data dir, a running job
whose server died is re-queued (its finished items kept) and, after ``MAX_ATTEMPTS`` tries,
failed with the reason. The last test kills a real ``ganforge serve`` process with SIGKILL."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ganforge.service.tools import TEXT_PREFIX
from ganforge.studio.auth import create_key
from ganforge.studio.queues import StoreSink
from ganforge.studio.store import FINISHED, MAX_ATTEMPTS, Store

from .conftest import free_port, key, make_app, wait_for
from .test_jobs import png_bytes, submit

GENERATE = {"tool": "generate", "model": "fashion-cgan", "params": {"seeds": [1, 2, 3], "count": 2}}


def queued_without_workers(data_dir: Path, body: dict = GENERATE, **headers) -> tuple[dict, dict, Store]:
    """A job queued on a studio whose workers never started (no lifespan): (job, key headers, store)."""
    app = make_app(data_dir)
    alice = key(app)
    job = submit(TestClient(app), {**alice, **headers}, body)
    return job, alice, app.state.store


def test_a_queued_job_survives_a_restart(tmp_path):
    data = tmp_path / "studio"
    job, alice, store = queued_without_workers(data, **{"Idempotency-Key": "nightly"})
    time.sleep(0.2)
    assert store.job(job["id"])["status"] == "queued"
    store.close()  # the first server is gone

    app = make_app(data)
    with TestClient(app) as client:
        done = wait_for(client, job["id"], alice)
        again = client.post("/v1/jobs", json=GENERATE, headers={**alice, "Idempotency-Key": "nightly"})
    assert (done["status"], done["attempts"]) == ("succeeded", 1)
    assert again.json()["id"] == job["id"]  # the retry of a POST sent before the restart finds it


def test_a_job_whose_server_died_while_running_is_requeued_and_keeps_its_finished_items(tmp_path):
    data = tmp_path / "studio"
    job, alice, store = queued_without_workers(data)
    claimed = store.claim("a-server-that-will-die")
    assert (claimed["id"], claimed["status"], claimed["attempts"]) == (job["id"], "running", 1)
    marker = png_bytes(4, 4)  # item 0 finished before the crash; a rerun would replace these bytes
    assert StoreSink(store, job["id"], 1).result(0, "0001-seed-1.png", marker, "image/png")
    assert StoreSink(store, job["id"], 1).item(1, status="running", done=0, total=1)
    # ... and the server dies: no more heartbeats.

    app = make_app(data, stale_seconds=0.5)
    with TestClient(app) as client:
        done = wait_for(client, job["id"], alice)
    assert (done["status"], done["attempts"]) == ("succeeded", 2)
    results = data / "results" / job["id"]
    assert (results / "0001-seed-1.png").read_bytes() == marker
    for idx, seed in ((1, 2), (2, 3)):
        png = Image.open(io.BytesIO((results / f"000{idx + 1}-seed-{seed}.png").read_bytes()))
        assert png.text[f"{TEXT_PREFIX}seed"] == str(seed)
    # The dead attempt, were it to wake up, can no longer write.
    late = StoreSink(store, job["id"], 1)
    assert not late.item(2, status="failed", error="late") and not late.result(2, "late.png", marker, "image/png")
    assert not (results / "late.png").exists() and store.items(job["id"])[2]["status"] == "succeeded"


def test_a_job_whose_server_keeps_dying_fails_with_the_reason(tmp_path):
    data = tmp_path / "studio"
    job, alice, store = queued_without_workers(data)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert store.claim("dies-every-time")["attempts"] == attempt
        if attempt < MAX_ATTEMPTS:
            assert store.requeue_stale(-1) == [job["id"]]  # stale at once: its server died

    app = make_app(data, stale_seconds=0.3)
    with TestClient(app) as client:
        done = wait_for(client, job["id"], alice, timeout=15)
        listed = client.get("/v1/jobs", headers=alice).json()["jobs"]
    assert (done["status"], done["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert f"stopped {MAX_ATTEMPTS} times" in done["error"] and "heartbeat" in done["error"]
    assert all(it["status"] == "failed" and it["error"] == done["error"] for it in done["items"])
    assert [j["id"] for j in listed] == [job["id"]]  # failed and listed, never silently dropped


def _serve(data: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganforge.cli", "serve", "--port", str(port), "--data-dir",
                             str(data)], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


def _until(what: str, check, server: subprocess.Popen, log: Path, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"ganforge serve exited ({server.returncode}) waiting for {what}:\n{log.read_text()}")
        try:
            found = check()
        except httpx.TransportError:
            found = None
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no {what} after {timeout} s:\n{log.read_text()}")


@pytest.mark.slow
def test_a_killed_server_process_runs_its_job_again_after_a_restart(tmp_path):
    data, log, port = tmp_path / "studio", tmp_path / "serve.log", free_port()
    store = Store(data)
    _, secret = create_key(store, "alice", rate="100000/min")
    api = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {secret}"})
    body = {"tool": "generate", "model": "fashion-cgan", "params": {"seeds": list(range(20)), "count": 100}}

    def job_where(ready):
        def check():
            job = api.get(f"/v1/jobs/{job_id}").json()
            return job if ready(job) else None
        return check

    server = _serve(data, port, log)
    try:
        _until("health", lambda: api.get("/v1/health").status_code == 200, server, log)
        job_id = api.post("/v1/jobs", json=body).json()["id"]
        _until("finished items", job_where(lambda j: j["progress"]["items_done"] >= 2), server, log)
        server.kill()  # SIGKILL: no shutdown, no last heartbeat
        server.wait(10)
        assert store.job(job_id)["status"] == "running"
        kept = {it["result"]: (data / "results" / job_id / it["result"]).stat().st_ino
                for it in store.items(job_id) if it["status"] == "succeeded"}
        assert 2 <= len(kept) < 20
        # Stand in for the 30 s (the default stale_seconds) a restart would wait before trusting
        # that the old server is gone.
        with store.tx() as db:
            db.execute("UPDATE jobs SET heartbeat = heartbeat - 60 WHERE id = ?", (job_id,))

        server = _serve(data, port, log)
        done = _until("the job finished", job_where(lambda j: j["status"] in FINISHED), server, log)
        assert (done["status"], done["attempts"]) == ("succeeded", 2), done
        assert {name: (data / "results" / job_id / name).stat().st_ino for name in kept} == kept  # not redone
    finally:
        server.kill()
        server.wait(10)
        api.close()
