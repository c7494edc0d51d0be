"""The studio's memory under the largest jobs it allows, from several keys at once.

    python bench/studio_limits.py [--keys 4] [--workers 2] [--model photo-upscale-x4] [--side 2500]
                                  [--max-job-memory-mib 2048] [--json OUT]

Needs the studio and its client: ``pip install -e '.[studio,dev]'``.

Starts ``ganforge serve --workers W`` (one thread per worker) on a temporary data dir and makes
``--keys`` keys. Each key uploads a ``--side`` square photo-like PNG (a gradient with noise) and
submits the same job at once: ``upscale`` with ``--model`` and tile 512. By default that is the
largest job the server's default limits allow: a 2500 x 2500 photo upscaled 4x is a 10000 x 10000
result, exactly the default ``--max-output-megapixels`` of 100. Each key then submits the same
photo at x4 with one more pixel of side (refused at submit: 413), so the limit is shown to hold.

While the jobs run the server's resident memory is read from ``/proc/PID/status`` every 50 ms;
at the end ``VmHWM`` (the kernel's own peak resident set) is the figure. The documented bound
(docs/api.md, Limits) is the server's resident memory once idle with its models loaded, plus
``--workers`` times the job's memory estimate (the figure the server checks at submit against
``--max-job-memory-mib``): only ``--workers`` jobs run at once, whatever the number of keys.

Every job must succeed with a result of the promised size (read from the PNG's header), and
every refused job must be refused with 413 naming the limit: a job lost or wrongly refused
fails the run (exit status 1), as does a peak over the bound. The last line is machine-readable:
``peak_rss_mib: N bound_mib: M lost: K``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from studio_load import OwnServer, ganforge_command, machine  # noqa: E402

TIMEOUT = httpx.Timeout(60.0, read=600.0)


def photo_png(side: int, seed: int) -> bytes:
    """A photo-like PNG: a colour gradient with mild noise (compresses like a photo, not like black)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ramp = np.linspace(30, 220, side, dtype=np.float32)
    pixels = np.empty((side, side, 3), np.uint8)
    for c, (a, b) in enumerate(((1, 0), (0, 1), (1, 1))):
        pixels[..., c] = np.clip(ramp[None, :] * a + ramp[:, None] * b * 0.5 + rng.normal(0, 6, (side, side)),
                                 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def status_mib(pid: int, field: str) -> float:
    """VmRSS or VmHWM of a process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


class Sampler:
    """The server's VmRSS every 50 ms, in a thread: its time series and maximum."""

    def __init__(self, pid: int) -> None:
        self.pid, self.samples, self.stop = pid, [], threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        start = time.monotonic()
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - start, status_mib(self.pid, "VmRSS")))
            time.sleep(0.05)

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size


def wait(http: httpx.Client, job_id: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "partial", "failed", "cancelled"):
            return job
        time.sleep(1.0)
    raise TimeoutError(f"job {job_id} did not finish in {timeout:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=4, help="keys submitting at once, one largest job each")
    ap.add_argument("--workers", type=int, default=2, help="the server's worker threads (jobs at once)")
    ap.add_argument("--model", default="photo-upscale-x4", help="an upscale model")
    ap.add_argument("--side", type=int, default=2500, help="side of each key's photo (2500 x4: 100 MP, the default cap)")
    ap.add_argument("--max-job-memory-mib", type=int, default=2048, help="the server's --max-job-memory-mib")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for all jobs")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    from ganforge.service.tools import TOOLS

    upscale = TOOLS.get("upscale")
    params = {"tile": 512}
    estimate = upscale.memory(args.model, upscale.Params(**params), (args.side, args.side)) / 2**20
    out_w, out_h = upscale.output_size(args.model, upscale.Params(**params), (args.side, args.side))
    print(f"machine: {json.dumps(machine())}")
    print(f"job: {args.model} on {args.side} x {args.side} -> {out_w} x {out_h} ({out_w * out_h / 1e6:.0f} MP), "
          f"tile 512; memory estimate {estimate:.0f} MiB", flush=True)

    server = OwnServer(args.workers, 1, keep=False,
                       serve_args=("--max-job-memory-mib", str(args.max_job_memory_mib)))
    server.start()
    try:
        secrets = [server.key]
        for k in range(1, args.keys):
            made = subprocess.run([*ganforge_command(), "keys", "create", f"user{k}", "--rate", "100000/min",
                                   "--data-dir", str(server.data_dir)], capture_output=True, text=True,
                                  env=server.env, timeout=120, check=True)
            secrets.append(made.stdout.strip().splitlines()[0])
        clients = [httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {s}"}, timeout=TIMEOUT)
                   for s in secrets]
        pngs = [photo_png(args.side, k) for k in range(args.keys)]
        too_big = photo_png(args.side + 1, 99)
        uploads, over = [], []
        for http, png in zip(clients, pngs):
            for data, into in ((png, uploads), (too_big, over)):
                r = http.post("/v1/uploads", files={"files": ("photo.png", data, "image/png")})
                r.raise_for_status()
                into.append(r.json()["uploads"][0]["id"])
        # Warm-up: one tiny job loads the model, so that the idle figure includes it.
        tiny = clients[0].post("/v1/uploads", files={"files": ("tiny.png", photo_png(32, 7), "image/png")})
        warm = clients[0].post("/v1/jobs", json={"tool": "upscale", "model": args.model, "params": params,
                                                 "inputs": [tiny.json()["uploads"][0]["id"]]})
        wait(clients[0], warm.json()["id"], 300)
        time.sleep(1.0)
        idle = status_mib(server.proc.pid, "VmRSS")
        bound = idle + args.workers * estimate
        print(f"server idle with the model loaded: {idle:.0f} MiB; bound = idle + {args.workers} workers x "
              f"{estimate:.0f} MiB = {bound:.0f} MiB", flush=True)

        refused_ok, lost, wrong = 0, 0, []
        t0 = time.monotonic()
        with Sampler(server.proc.pid) as sampler, ThreadPoolExecutor(args.keys) as pool:
            def submit(k: int):
                body = {"tool": "upscale", "model": args.model, "params": params}
                r = clients[k].post("/v1/jobs", json={**body, "inputs": [uploads[k]]})
                refused = clients[k].post("/v1/jobs", json={**body, "inputs": [over[k]]})
                return r, refused

            answers = list(pool.map(submit, range(args.keys)))
            jobs = []
            for k, (r, refused) in enumerate(answers):
                if r.status_code != 202:
                    wrong.append(f"key {k}: largest allowed job answered {r.status_code}: {r.text[:200]}")
                    lost += 1
                else:
                    jobs.append((k, r.json()["id"]))
                msg = refused.json().get("error", {}).get("message", "") if refused.status_code == 413 else ""
                if refused.status_code == 413 and "--max-output-megapixels" in msg:
                    refused_ok += 1
                else:
                    wrong.append(f"key {k}: the job one pixel too large answered {refused.status_code}: {refused.text[:200]}")
            for k, job_id in jobs:
                job = wait(clients[k], job_id, args.timeout)
                if job["status"] != "succeeded":
                    lost += 1
                    wrong.append(f"key {k}: job {job_id} ended {job['status']}: {job.get('error')}")
                    continue
                item = job["items"][0]
                data = clients[k].get(item["result_url"]).content
                if png_size(data) != (out_w, out_h):
                    lost += 1
                    wrong.append(f"key {k}: result is {png_size(data)}, expected {(out_w, out_h)}")
        elapsed = time.monotonic() - t0
        peak = status_mib(server.proc.pid, "VmHWM")
        sampled = max(v for _, v in sampler.samples)
        for http in clients:
            http.close()
    finally:
        server.close()
    for line in wrong:
        print("PROBLEM:", line)
    figures = {"machine": machine(), "model": args.model, "side": args.side, "keys": args.keys,
               "workers": args.workers, "estimate_mib": round(estimate), "idle_mib": round(idle),
               "bound_mib": round(bound), "peak_rss_mib": round(peak), "peak_sampled_mib": round(sampled),
               "seconds": round(elapsed), "refused_413": refused_ok, "lost": lost}
    print(f"{args.keys} keys, {args.workers} workers: all jobs done in {elapsed:.0f} s; server peak RSS "
          f"{peak:.0f} MiB (VmHWM; sampled max {sampled:.0f}), idle {idle:.0f}, bound {bound:.0f}; "
          f"{refused_ok}/{args.keys} over-limit jobs refused with 413")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(f"peak_rss_mib: {peak:.0f} bound_mib: {bound:.0f} lost: {lost}")
    if lost or wrong or peak > bound:
        sys.exit(1)


if __name__ == "__main__":
    main()
