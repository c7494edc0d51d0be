"""Studio fixtures: an app on a temporary data dir, keys, a TestClient and a live server.

``make_app`` builds the application around a data dir (``StudioSettings`` overrides as keyword
arguments), the ``app`` / ``client`` fixtures give a fresh one and its TestClient;
``key(app, name, **options)`` makes an API key and returns its headers; ``wait_for`` polls a job;
``live_server`` runs uvicorn in a thread on a free loopback port (for the browser and load tests).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from ganforge.studio.app import create_app  # noqa: E402
from ganforge.studio.auth import create_key  # noqa: E402
from ganforge.studio.settings import StudioSettings  # noqa: E402


def make_app(data_dir: Path, **overrides):
    return create_app(replace(StudioSettings(data_dir=data_dir, stale_seconds=30.0), **overrides))


def key(app, name: str = "alice", **options) -> dict[str, str]:
    """Authorization headers of a new key (``rate``, ``images_per_day``, ``admin``). Tests poll
    jobs many times a second, so the rate defaults to 100000/min (the product's is 60/min)."""
    options.setdefault("rate", "100000/min")
    _, secret = create_key(app.state.store, name, **options)
    return {"Authorization": f"Bearer {secret}"}


def finished(job: dict) -> bool:
    return job["status"] not in ("queued", "running")


def wait_for(client: TestClient, job_id: str, headers: dict, timeout: float = 60.0, *, until=finished,
             describe=lambda: "") -> dict:
    """Poll a job until ``until(job)`` (default: it finished); the job's JSON. ``describe()`` adds
    context (a worker's log) to the failure message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(f"/v1/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, response.text
        job = response.json()
        if until(job):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id}: condition not reached in {timeout} s (status {job['status']}){describe()}")


@pytest.fixture
def app(tmp_path):
    """A studio application on a fresh data dir (not started: use ``client``)."""
    return make_app(tmp_path / "studio")


@pytest.fixture
def keyed_client(tmp_path):
    """(a fresh app's TestClient, the Authorization headers of a key of it)."""
    app = make_app(tmp_path / "studio")
    with TestClient(app) as client:
        yield client, key(app)


@pytest.fixture
def client(app):
    """A TestClient on ``app``, its lifespan (and local queue) running."""
    with TestClient(app) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a background thread."""

    def __init__(self, app) -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the studio did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def live_server(tmp_path):
    app = make_app(tmp_path / "studio")
    with LiveServer(app) as server:
        yield server
