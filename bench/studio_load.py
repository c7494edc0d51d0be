"""The studio under load: N concurrent clients against the same jobs run in-process, alternating.

    python bench/studio_load.py [--clients 8] [--seconds 60] [--workers 2] [--tool generate|upscale [--side 64]]
                                [--chunks 6] [--wait sse|poll] [--threads 1] [--json OUT]
                                [--url URL --key KEY]

Needs the studio and its client: ``pip install -e '.[studio,dev]'`` (fastapi, uvicorn, httpx).

By default the script starts its own studio: ``ganforge serve --workers W`` as a subprocess on
a free loopback port with a temporary data dir and a key made by ``ganforge keys create`` with
a rate limit of 1,000,000/min (so 429s cannot happen). ``--url`` and ``--key`` target a server
that is already running instead (then the store cross-check below is skipped and the server's
worker count must be given with ``--workers`` for the in-process comparison to match).

The job (small on purpose, so that the server's own costs show):

* ``generate`` (default): fashion-cgan, ``{"seeds": [1], "count": 4}``: one 4-image grid.
* ``upscale``: photo-upscale-x2 on a 64 x 64 PNG (``--side``; seeded noise over a gradient) that
  each client uploads once (``POST /v1/uploads``) and reuses for every job. A larger ``--side``
  shows how the server's cost per job weighs against longer jobs.

Two ways of running it, alternating in ``--chunks`` chunks of ``seconds / chunks`` each
(server, direct, server, direct, ...), so that the CPU's state and other load on the machine
affect both alike:

* **server**: ``--clients`` threads, each with its own ``httpx.Client``: ``POST /v1/jobs`` (with
  an ``Idempotency-Key``; a request that fails in transport is retried once with the same key),
  then wait for the job to finish (``--wait sse``: read ``GET /v1/jobs/{id}/events`` until the
  job's status is final; ``--wait poll``: ``GET /v1/jobs/{id}`` every 50 ms), then submit again.
  When the chunk's time is up nobody submits; the chunk ends when every client's last job has
  finished.
* **direct**: ``--workers`` threads in this process, sharing the model from
  ``ganforge.service.tools.loaded`` (as the server's workers do: one load per process), running
  the same item with ``ganforge.service.tools.run_item``, which returns the encoded PNG (as the
  server's workers do), until the chunk's time is up; the chunk ends when the last item finishes.

Before the first chunk each side warms up (every server worker and every direct thread loads
its model by running ``workers`` jobs); warm-up jobs count in ``submitted`` and in the lost
check but not in the timed figures.

Throughput is jobs completed over a chunk's wall time (time up plus the last jobs' drain).
``throughput_ratio`` is the median over chunk pairs of server / direct (the pooled ratio, all
jobs over all wall time, is printed too): what fraction of the jobs per second of the bare
service layer the studio delivers to HTTP clients (HTTP, JSON, SQLite state, result files,
event streams and the clients' own work, all on the same CPUs). On a machine shared with other
work the throughput of each chunk follows the others' load; the medians of many short pairs
resist that best. ``cpu_ratio`` does not depend on it: CPU seconds per job of the direct threads
over those of the server's process plus the clients (a server this script started only).

Latencies (medians and 95th percentiles over the timed jobs):

* submit: the ``POST /v1/jobs`` round trip (202 received).
* completion: from just before the POST to the moment the client learns the job finished (with
  SSE the server checks a job every ``events_poll`` = 0.25 s, so this includes up to that).
* server: the job's ``finished - created`` as the server recorded them; queue wait:
  ``started - created``.
* direct: one item's time in-process.

Accounting: a submit answered other than 2xx is a failed submit (counted by status code); a job
that ends ``failed``, ``partial`` or ``cancelled`` is a failed job. After the last chunk the
script waits (``--drain`` seconds at most) for any job it has not seen finish, then reads the
whole history (``GET /v1/jobs``, every page) and, for a server it started, the store itself:
a job is **lost** when it was submitted (202) but never reached a final state, or is missing
from the history or the store; jobs in the history or store that no client submitted are
**unknown** (a duplicate from a retried POST would be one). Succeeded jobs must have their
result file on disk (store check). Lost and unknown must be 0.

Exit status 1 if anything was lost, unknown or failed. The last line is
``lost: L submitted: S completed: C failed: F unknown: U cpu_ratio: C throughput_ratio: R``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

FINISHED = ("succeeded", "partial", "failed", "cancelled")
RATE = "1000000/min"
JOBS = {
    "generate": {"tool": "generate", "model": "fashion-cgan", "params": {"seeds": [1], "count": 4}},
    "upscale": {"tool": "upscale", "model": "photo-upscale-x2", "params": {}},
}
POLL = 0.05  # seconds between GETs with --wait poll
TIMEOUT = httpx.Timeout(30.0, connect=5.0)  # the event stream sends a comment every 15 s when quiet


@dataclass
class JobRecord:
    """One submission as a client saw it."""

    phase: str  # "warmup" | "timed"
    chunk: int
    idempotency: str
    id: str | None = None
    http_status: int | None = None  # of the POST (None: no answer)
    submit_s: float | None = None  # POST round trip
    complete_s: float | None = None  # POST start -> final status seen
    status: str | None = None  # final status seen by the client
    server_s: float | None = None  # finished - created (server clock)
    queue_s: float | None = None  # started - created
    error: str | None = None


@dataclass
class Chunk:
    side: str  # "server" | "direct"
    index: int
    wall_s: float
    completed: int
    failed: int
    cpu_s: float  # CPU time of this process (the clients, or the direct threads)
    server_cpu_s: float | None = None  # CPU time of the server's process (a server this script started)


@dataclass
class Run:
    records: list[JobRecord] = field(default_factory=list)
    direct_times: list[float] = field(default_factory=list)
    chunks: list[Chunk] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: JobRecord) -> None:
        with self.lock:
            self.records.append(record)


# Machine ----------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    import torch

    model, flags = platform.processor() or platform.machine(), ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("model name")), model)
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "amx_bf16": "amx_bf16" in flags.split(),
            "avx512f": "avx512f" in flags.split(), "python": platform.python_version(), "torch": torch.__version__,
            "httpx": httpx.__version__, "loadavg_start": os.getloadavg()[0]}


# The server -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ganforge_command() -> list[str]:
    return [sys.executable, "-c", "from ganforge.cli import main; main()"]


class OwnServer:
    """``ganforge serve`` in a subprocess on a temporary data dir, with a high-rate key."""

    def __init__(self, workers: int, threads: int, keep: bool, serve_args: tuple[str, ...] = ()) -> None:
        self.workers, self.keep, self.serve_args = workers, keep, serve_args
        self.dir = Path(tempfile.mkdtemp(prefix="ganforge-studio-load-"))
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "serve.log"
        self.env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        self.proc: subprocess.Popen | None = None
        self.url = self.key = ""

    def start(self, timeout: float = 90.0) -> None:
        made = subprocess.run([*ganforge_command(), "keys", "create", "load", "--rate", RATE, "--data-dir",
                               str(self.data_dir)], capture_output=True, text=True, env=self.env, timeout=120)
        if made.returncode != 0:
            raise SystemExit(f"ganforge keys create failed: {made.stderr.strip()}")
        self.key = made.stdout.strip().splitlines()[0]
        for _ in range(3):  # a free port can be taken between finding it and binding it
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            with open(self.log_path, "w") as log:
                self.proc = subprocess.Popen([*ganforge_command(), "serve", "--port", str(port), "--data-dir",
                                              str(self.data_dir), "--workers", str(self.workers),
                                              *self.serve_args],
                                             stdout=log, stderr=subprocess.STDOUT, env=self.env)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            self.stop_process()
        raise SystemExit(f"the studio did not start; its log:\n{self.log_text()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text()[-4000:]
        except OSError:
            return "(no log)"

    def stop_process(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def close(self) -> None:
        self.stop_process()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


# Clients ----------------------------------------------------------------------------------------

def small_png(side: int = 64, seed: int = 0) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, side)
    base = np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1), np.full((side, side), 100.0)], -1)
    pixels = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


class Client:
    """One load client: its own connection pool; submits a job, waits for it, repeats."""

    def __init__(self, url: str, key: str, body: dict[str, Any], wait: str, run: Run, png: bytes | None) -> None:
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT)
        self.body, self.wait, self.run = dict(body), wait, run
        if png is not None:
            r = self.http.post("/v1/uploads", files={"files": ("load.png", png, "image/png")})
            r.raise_for_status()
            self.body["inputs"] = [r.json()["uploads"][0]["id"]]

    def close(self) -> None:
        self.http.close()

    def loop(self, until: float, phase: str, chunk: int, once: bool = False) -> None:
        while time.monotonic() < until or once:
            wait = self.one(phase, chunk)
            if once:
                return
            if wait:  # refused with 429: wait as told (within the chunk), as a polite client does
                time.sleep(max(0.0, min(wait, until - time.monotonic())))

    def one(self, phase: str, chunk: int) -> float:
        """Submit a job and wait for it; the seconds a 429 asked to wait (0 otherwise)."""
        rec = JobRecord(phase=phase, chunk=chunk, idempotency=uuid.uuid4().hex)
        t0 = time.monotonic()
        response = None
        for attempt in range(2):  # a transport error is retried once with the same Idempotency-Key
            try:
                response = self.http.post("/v1/jobs", json=self.body, headers={"Idempotency-Key": rec.idempotency})
                break
            except httpx.TransportError as err:
                rec.error = f"POST: {type(err).__name__}: {err}"
        rec.submit_s = time.monotonic() - t0
        if response is None:
            self.run.add(rec)
            return 0.0
        rec.http_status = response.status_code
        if response.status_code // 100 != 2:
            rec.error = f"POST {response.status_code}: {response.text[:200]}"
            self.run.add(rec)
            return float(response.headers.get("Retry-After", "1")) if response.status_code == 429 else 0.0
        rec.id = response.json()["id"]
        self.run.add(rec)  # recorded as submitted before waiting: a job that never finishes stays visible
        job = self.wait_sse(rec) if self.wait == "sse" else None
        if job is None:
            job = self.wait_poll(rec)
        if job is not None:
            rec.complete_s = time.monotonic() - t0
            rec.status = job["status"]
            if job.get("finished") and job.get("created"):
                rec.server_s = job["finished"] - job["created"]
            if job.get("started") and job.get("created"):
                rec.queue_s = job["started"] - job["created"]
        return 0.0

    def wait_sse(self, rec: JobRecord) -> dict | None:
        """The finished job from the event stream; None if the stream broke (then poll)."""
        try:
            with self.http.stream("GET", f"/v1/jobs/{rec.id}/events") as r:
                if r.status_code != 200:
                    rec.error = f"events {r.status_code}"
                    return None
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        job = json.loads(line[5:])
                        if job["status"] in FINISHED:
                            return job
        except (httpx.TransportError, json.JSONDecodeError) as err:
            rec.error = f"events: {type(err).__name__}: {err}"
        return None

    def wait_poll(self, rec: JobRecord, timeout: float = 120.0) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = self.http.get(f"/v1/jobs/{rec.id}")
                if r.status_code == 200 and r.json()["status"] in FINISHED:
                    return r.json()
            except httpx.TransportError as err:
                rec.error = f"poll: {type(err).__name__}: {err}"
            time.sleep(POLL)
        rec.error = (rec.error or "") + f" (not finished after {timeout:.0f} s)"
        return None


def process_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), or None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_chunk(clients: list[Client], pool: ThreadPoolExecutor, seconds: float, index: int, run: Run,
                 server_pid: int | None) -> Chunk:
    before = len(run.records)
    cpu0, server0 = time.process_time(), process_cpu(server_pid)
    t0 = time.monotonic()
    for f in [pool.submit(c.loop, t0 + seconds, "timed", index) for c in clients]:
        f.result()
    wall = time.monotonic() - t0
    server1 = process_cpu(server_pid)
    mine = run.records[before:]
    return Chunk("server", index, wall, completed=sum(r.status == "succeeded" for r in mine),
                 failed=sum(r.status not in (None, "succeeded") or (r.http_status or 0) // 100 != 2 for r in mine),
                 cpu_s=time.process_time() - cpu0,
                 server_cpu_s=None if server0 is None or server1 is None else server1 - server0)


# Direct -----------------------------------------------------------------------------------------

class Direct:
    """The same item run by ``workers`` threads of this process through the service layer."""

    def __init__(self, body: dict[str, Any], workers: int, png: bytes | None, folder: Path) -> None:
        from ganforge.service.tools import TOOLS, Item

        self.tool = TOOLS.get(body["tool"])
        self.model = body["model"]
        self.params = self.tool.parse(body["params"])
        self.item = Item(label="seed 1" if not self.tool.takes_images else "image 1",
                         seed=body["params"].get("seeds", [None])[0] if not self.tool.takes_images else None,
                         inputs={spec.name: 0 for spec in self.tool.inputs})
        self.sources = {}
        if png is not None:
            self.sources = {spec.name: folder / "direct-input.png" for spec in self.tool.inputs}
            (folder / "direct-input.png").write_bytes(png)
        self.workers = workers
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="direct")

    def one(self) -> float:
        from ganforge.service.tools import loaded, run_item

        t0 = time.monotonic()
        run_item(self.tool, self.model, loaded(self.model), self.params, self.item, self.sources)  # PNG bytes
        return time.monotonic() - t0

    def warm_up(self) -> None:
        """Each pool thread loads its model (a barrier makes every thread take one task)."""
        barrier = threading.Barrier(self.workers)

        def task() -> None:
            barrier.wait(60)
            self.one()

        for f in [self.pool.submit(task) for _ in range(self.workers)]:
            f.result()

    def chunk(self, seconds: float, index: int, run: Run) -> Chunk:
        def loop(until: float) -> list[float]:
            times = []
            while time.monotonic() < until:
                times.append(self.one())
            return times

        cpu0 = time.process_time()
        t0 = time.monotonic()
        times = [t for f in [self.pool.submit(loop, t0 + seconds) for _ in range(self.workers)] for t in f.result()]
        wall = time.monotonic() - t0
        run.direct_times.extend(times)
        return Chunk("direct", index, wall, completed=len(times), failed=0, cpu_s=time.process_time() - cpu0)

    def close(self) -> None:
        self.pool.shutdown()


# Accounting -------------------------------------------------------------------------------------

def get_patiently(http: httpx.Client, path: str, params: dict | None = None, tries: int = 5) -> httpx.Response:
    """GET, waiting out 429s (Retry-After, at most 70 s each) so that the accounting reads complete."""
    for _ in range(tries):
        r = http.get(path, params=params)
        if r.status_code != 429:
            return r
        time.sleep(min(70, int(r.headers.get("Retry-After", "1"))))
    return r


def drain(url: str, key: str, run: Run, timeout: float) -> None:
    """Wait (at most ``timeout`` s) for submitted jobs no client saw finish; record their status."""
    pending = [r for r in run.records if r.id and r.status is None]
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT) as http:
        while pending and time.monotonic() < deadline:
            for r in list(pending):
                try:
                    job = get_patiently(http, f"/v1/jobs/{r.id}").json()
                except (httpx.TransportError, ValueError):
                    continue
                if job.get("status") in FINISHED:
                    r.status = job["status"]
                    pending.remove(r)
            time.sleep(0.5)


def history(url: str, key: str) -> dict[str, str]:
    """Every job of the key as GET /v1/jobs pages it: id -> status."""
    seen: dict[str, str] = {}
    before = None
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT) as http:
        while True:
            params = {"limit": 200, **({"before": before} if before else {})}
            r = get_patiently(http, "/v1/jobs", params)
            r.raise_for_status()
            page = r.json()
            for job in page["jobs"]:
                if job["id"] in seen:
                    raise SystemExit(f"history lists job {job['id']} twice")
                seen[job["id"]] = job["status"]
            before = page["next_before"]
            if before is None:
                return seen


def store_view(data_dir: Path) -> dict[str, Any]:
    """The server's own records: every job's status, and succeeded items whose result file is missing."""
    from ganforge.studio.store import Store

    store = Store(data_dir)
    try:
        jobs = {r["id"]: r["status"] for r in store.query("SELECT id, status FROM jobs")}
        missing = [f"{r['job_id']}/{r['result']}" for r in store.query(
            "SELECT job_id, result FROM items WHERE status = 'succeeded'")
            if not r["result"] or not (store.result_dir(r["job_id"]) / r["result"]).is_file()]
        bad_items = store.query("SELECT COUNT(*) FROM items JOIN jobs ON jobs.id = items.job_id "
                                "WHERE jobs.status = 'succeeded' AND items.status != 'succeeded'")[0][0]
    finally:
        store.close()
    return {"jobs": jobs, "missing_results": missing, "bad_items": int(bad_items)}


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


# Main -------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients (threads)")
    parser.add_argument("--seconds", type=float, default=60.0, help="time budget of each side (server and direct)")
    parser.add_argument("--chunks", type=int, default=6, help="alternating chunks per side")
    parser.add_argument("--workers", type=int, default=2, help="server worker threads = direct threads")
    parser.add_argument("--tool", choices=sorted(JOBS), default="generate")
    parser.add_argument("--side", type=int, default=64, help="side of the upscale job's square input image")
    parser.add_argument("--wait", choices=("sse", "poll"), default="sse", help="how clients learn a job finished")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (OMP_NUM_THREADS) of both sides")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for unfinished jobs at the end")
    parser.add_argument("--url", help="an existing studio (with --key) instead of starting one")
    parser.add_argument("--key", help="an API key of --url with a high rate limit")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir (its path is printed)")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args()
    if bool(args.url) != bool(args.key):
        parser.error("--url and --key go together")
    if min(args.clients, args.workers, args.chunks) < 1 or args.seconds <= 0:
        parser.error("--clients, --workers and --chunks must be at least 1 and --seconds positive")

    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    body = JOBS[args.tool]
    png = small_png(args.side) if args.tool == "upscale" else None
    info = machine()
    print(f"{info['cpu']}, {info['cores']} cores, amx_bf16 {'yes' if info['amx_bf16'] else 'no'}; "
          f"Python {info['python']}, torch {info['torch']} ({args.threads} thread(s) per side), httpx {info['httpx']}")
    print(f"job: {json.dumps(body)}{f' + one {args.side}x{args.side} PNG upload per client' if png else ''}")
    print(f"{args.clients} clients (wait: {args.wait}) against {args.workers} server workers, and {args.workers} "
          f"direct threads; {args.seconds:g} s each, alternating in {args.chunks} chunks (server first)")

    own = None if args.url else OwnServer(args.workers, args.threads, args.keep)
    run = Run()
    scratch = Path(tempfile.mkdtemp(prefix="ganforge-studio-load-direct-"))  # the direct side's input file
    clients: list[Client] = []
    direct = None
    try:
        if own is not None:
            own.start()
            url, key = own.url, own.key
            print(f"studio: {url} (ganforge serve --workers {args.workers}, data dir {own.data_dir})")
        else:
            url, key = args.url.rstrip("/"), args.key
        try:
            health = httpx.get(f"{url}/v1/health", timeout=10).json()
        except (httpx.HTTPError, ValueError) as err:
            raise SystemExit(f"no studio at {url}: {err}") from None
        usage = httpx.get(f"{url}/v1/usage", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        if usage.status_code != 200:
            raise SystemExit(f"the key was refused: {usage.status_code} {usage.text[:300]}")
        if usage.json()["requests"]["limit"] < 10000:
            print(f"warning: the key allows only {usage.json()['requests']['limit']} requests per "
                  f"{usage.json()['requests']['window_seconds']} s; 429s will count as failed submits")
        print(f"server: ganforge {health['version']}, queue {health['queue']}")
        earlier = set(history(url, key))  # an existing server's jobs from before this run
        clients = [Client(url, key, body, args.wait, run, png) for _ in range(args.clients)]
        direct = Direct(body, args.workers, png, scratch)
        pool = ThreadPoolExecutor(args.clients, thread_name_prefix="client")

        # Warm-up: every server worker and every direct thread loads its model.
        for f in [pool.submit(c.loop, 0, "warmup", -1, True) for c in clients[:args.workers]]:
            f.result()
        direct.warm_up()

        each = args.seconds / args.chunks
        for i in range(args.chunks):
            run.chunks.append(server_chunk(clients, pool, each, i, run, own.proc.pid if own else None))
            run.chunks.append(direct.chunk(each, i, run))
            s, d = run.chunks[-2], run.chunks[-1]
            print(f"chunk {i + 1}/{args.chunks}: server {s.completed} jobs in {s.wall_s:.1f} s "
                  f"({s.completed / s.wall_s:.2f}/s), direct {d.completed} in {d.wall_s:.1f} s "
                  f"({d.completed / d.wall_s:.2f}/s)")
        pool.shutdown()

        # Accounting: wait for stragglers, then the history and the store.
        drain(url, key, run, args.drain)
        listed = history(url, key)
        stored = store_view(own.data_dir) if own else None
        report(args, info, run, {j: s for j, s in listed.items() if j not in earlier}, stored)
    finally:
        for c in clients:
            c.close()
        if direct is not None:
            direct.close()
        shutil.rmtree(scratch, ignore_errors=True)
        if own is not None:
            own.close()
            if args.keep:
                print(f"kept {own.dir}")


def report(args, info: dict, run: Run, listed: dict[str, str], stored: dict | None) -> None:
    recs = run.records
    accepted = [r for r in recs if r.id]
    refused = [r for r in recs if not r.id]
    ids = {r.id for r in accepted}
    never_final = [r for r in accepted if r.status not in FINISHED]
    missing_history = ids - set(listed)
    unknown = set(listed) - ids
    lost_ids = {r.id for r in never_final} | missing_history
    store_missing: set[str] = set()
    if stored is not None:
        store_missing = ids - set(stored["jobs"])
        unknown |= set(stored["jobs"]) - ids
        lost_ids |= store_missing
        # The client's final status must be the server's.
        lost_ids |= {r.id for r in accepted if r.status in FINISHED and stored["jobs"].get(r.id) != r.status}
    lost_ids |= {r.id for r in accepted if r.status in FINISHED and listed.get(r.id) != r.status}
    completed = sum(r.status == "succeeded" for r in accepted)
    failed_jobs = Counter(r.status for r in accepted if r.status in FINISHED and r.status != "succeeded")
    refused_by = Counter(str(r.http_status) if r.http_status else "no answer" for r in refused)

    timed = [r for r in accepted if r.phase == "timed" and r.status == "succeeded"]
    submit = [r.submit_s for r in recs if r.phase == "timed" and r.submit_s is not None and r.id]
    complete = [r.complete_s for r in timed if r.complete_s is not None]
    server = [r.server_s for r in timed if r.server_s is not None]
    queue = [r.queue_s for r in timed if r.queue_s is not None]
    s_chunks = [c for c in run.chunks if c.side == "server"]
    d_chunks = [c for c in run.chunks if c.side == "direct"]
    s_rate = sum(c.completed for c in s_chunks) / sum(c.wall_s for c in s_chunks)
    d_rate = sum(c.completed for c in d_chunks) / sum(c.wall_s for c in d_chunks)
    pooled = s_rate / d_rate if d_rate else float("nan")
    chunk_ratios = [s.completed / s.wall_s / (d.completed / d.wall_s)
                    for s, d in zip(s_chunks, d_chunks) if d.completed]
    ratio = float(np.median(chunk_ratios)) if chunk_ratios else float("nan")
    errors = Counter((r.error or "").split(":")[0] for r in recs if r.error)
    s_done, d_done = sum(c.completed for c in s_chunks), sum(c.completed for c in d_chunks)
    cpu = {"server_process": (sum(c.server_cpu_s for c in s_chunks) / s_done
                              if s_done and all(c.server_cpu_s is not None for c in s_chunks) else None),
           "clients": sum(c.cpu_s for c in s_chunks) / s_done if s_done else None,
           "direct": sum(c.cpu_s for c in d_chunks) / d_done if d_done else None}
    server_cpu = None if cpu["server_process"] is None else cpu["server_process"] + cpu["clients"]
    cpu_ratio = cpu["direct"] / server_cpu if server_cpu and cpu["direct"] else None

    print()
    print(f"| figure | server ({args.clients} clients, {args.workers} workers) | direct ({args.workers} threads) |")
    print("|---|---|---|")
    print(f"| jobs completed in the timed chunks | {sum(c.completed for c in s_chunks)} in "
          f"{sum(c.wall_s for c in s_chunks):.1f} s | {sum(c.completed for c in d_chunks)} in "
          f"{sum(c.wall_s for c in d_chunks):.1f} s |")
    print(f"| throughput | {s_rate:.2f} jobs/s | {d_rate:.2f} jobs/s |")
    print(f"| submit (POST) p50 / p95 | {ms(pct(submit, 50))} / {ms(pct(submit, 95))} | - |")
    print(f"| completion (client) p50 / p95 | {ms(pct(complete, 50))} / {ms(pct(complete, 95))} | "
          f"{ms(pct(run.direct_times, 50))} / {ms(pct(run.direct_times, 95))} (one item) |")
    print(f"| server finished - created p50 / p95 | {ms(pct(server, 50))} / {ms(pct(server, 95))} | - |")
    print(f"| queue wait p50 / p95 | {ms(pct(queue, 50))} / {ms(pct(queue, 95))} | - |")
    print(f"| CPU time per job | server process {ms(cpu['server_process'])}, clients {ms(cpu['clients'])} | "
          f"{ms(cpu['direct'])} |")
    print()
    print(f"throughput ratio (server / direct), median of {len(chunk_ratios)} chunk pairs: {ratio:.3f}; pooled: "
          f"{pooled:.3f}; per chunk: {', '.join(f'{x:.3f}' for x in chunk_ratios)} (alternating chunks of "
          f"{args.seconds / args.chunks:g} s)")
    if cpu_ratio is not None:
        print(f"CPU ratio (direct CPU per job / server process + clients CPU per job): {cpu_ratio:.3f}")
    print(f"load average (1 min) at start and end: {info['loadavg_start']:.2f}, {os.getloadavg()[0]:.2f} "
          f"on {info['cores']} cores")
    print(f"submitted (202): {len(accepted)} ({sum(r.phase == 'warmup' for r in accepted)} warm-up); refused submits: "
          f"{len(refused)}{' ' + dict(refused_by).__repr__() if refused else ''}; completed: {completed}; "
          f"failed jobs: {sum(failed_jobs.values())}{' ' + repr(dict(failed_jobs)) if failed_jobs else ''}")
    print(f"history (GET /v1/jobs, all pages): {len(listed)} jobs; missing from it: {len(missing_history)}; "
          f"never final: {len(never_final)}; unknown: {len(unknown)}")
    if stored is not None:
        print(f"store: {len(stored['jobs'])} jobs, {dict(Counter(stored['jobs'].values()))}; missing from it: "
              f"{len(store_missing)}; succeeded items without their file: {len(stored['missing_results'])}; "
              f"items not succeeded in succeeded jobs: {stored['bad_items']}")
    else:
        print("store: not checked (--url: the server's data dir is not this script's)")
    if errors:
        print(f"client-side errors (retried or recovered unless counted above): {dict(errors)}")
    if lost_ids:
        print(f"LOST: {sorted(lost_ids)[:10]}")

    figures = {
        "date": dt.date.today().isoformat(), "machine": info, "args": {k: (str(v) if isinstance(v, Path) else v)
                                                                       for k, v in vars(args).items() if k != "key"},
        "job": JOBS[args.tool], "lost": len(lost_ids), "lost_ids": sorted(lost_ids), "unknown": sorted(unknown),
        "submitted": len(accepted), "warmup": sum(r.phase == "warmup" for r in accepted), "completed": completed,
        "failed_jobs": dict(failed_jobs), "refused_submits": dict(refused_by),
        "throughput_server": s_rate, "throughput_direct": d_rate, "throughput_ratio": ratio,
        "throughput_ratio_pooled": pooled,
        "chunk_ratios": chunk_ratios, "chunks": [asdict(c) for c in run.chunks], "cpu_s_per_job": cpu,
        "cpu_ratio": cpu_ratio, "loadavg_end": os.getloadavg()[0],
        "latency_s": {"submit_p50": pct(submit, 50), "submit_p95": pct(submit, 95),
                      "complete_p50": pct(complete, 50), "complete_p95": pct(complete, 95),
                      "server_p50": pct(server, 50), "server_p95": pct(server, 95),
                      "queue_p50": pct(queue, 50), "queue_p95": pct(queue, 95),
                      "direct_p50": pct(run.direct_times, 50), "direct_p95": pct(run.direct_times, 95)},
        "history_jobs": len(listed), "store": None if stored is None else {
            "jobs": len(stored["jobs"]), "statuses": dict(Counter(stored["jobs"].values())),
            "missing_results": stored["missing_results"], "bad_items": stored["bad_items"]},
        "client_errors": dict(errors),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"figures: {args.json}")
    bad = len(refused) + sum(failed_jobs.values())
    if stored is not None:
        bad += len(stored["missing_results"]) + stored["bad_items"]
    print(f"lost: {len(lost_ids)} submitted: {len(accepted)} completed: {completed} failed: {bad} "
          f"unknown: {len(unknown)} cpu_ratio: {'-' if cpu_ratio is None else f'{cpu_ratio:.3f}'} "
          f"throughput_ratio: {ratio:.3f}")
    if lost_ids or unknown or bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
