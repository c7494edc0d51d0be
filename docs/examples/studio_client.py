"""A small client of the ganforge studio's API, on the standard library only.

Uploads images (if any), submits one job for all of them, follows its server-sent events and
downloads the results as a zip:

    export GANFORGE_KEY=gf_...        # ganforge keys create NAME
    python docs/examples/studio_client.py --tool upscale --model photo-upscale-x2 --out upscaled.zip a.png b.jpg
    python docs/examples/studio_client.py --tool generate --model fashion-cgan \\
        --params '{"seeds": [1, 2, 3], "count": 8}' --out sneakers.zip

Ctrl+C cancels the job on the server. Exit status: 0 when every item succeeded, 1 otherwise
(the zip then holds the items that did), 2 when the server refused a request.
See docs/api.md for the API this uses.
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

FINISHED = ("succeeded", "partial", "failed", "cancelled")


class ApiError(Exception):
    """A refused request: HTTP status and the API's error code, message and field."""

    def __init__(self, status: int, body: bytes) -> None:
        try:
            error = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "http_error", "message": body[:200].decode(errors="replace"), "field": None}
        super().__init__(f"{status} {error['code']}: {error['message']}")
        self.status, self.code, self.field = status, error["code"], error.get("field")


class Studio:
    def __init__(self, url: str, key: str, timeout: float = 60.0) -> None:
        self.url, self.key, self.timeout = url.rstrip("/"), key, timeout

    def open(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             retries: int = 5):
        """The response to one request; a 429 is retried after its Retry-After (at most ``retries`` times)."""
        headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        for attempt in range(retries + 1):
            request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as err:
                data = err.read()
                if err.code == 429 and attempt < retries:
                    wait = int(err.headers.get("Retry-After", "1"))
                    print(f"rate limited; retrying in {wait} s", file=sys.stderr)
                    time.sleep(wait)
                    continue
                raise ApiError(err.code, data) from None

    def json(self, method: str, path: str, payload: dict | None = None, headers: dict[str, str] | None = None):
        body = None if payload is None else json.dumps(payload).encode()
        with self.open(method, path, body, {"Content-Type": "application/json", **(headers or {})}) as r:
            return json.loads(r.read())

    def upload(self, paths: list[Path]) -> list[dict]:
        """POST /v1/uploads: every file in one multipart request (field name ``files``)."""
        boundary = uuid.uuid4().hex
        parts = []
        for path in paths:
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n'
                         f"Content-Type: {kind}\r\n\r\n".encode() + path.read_bytes() + b"\r\n")
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        with self.open("POST", "/v1/uploads", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}) as r:
            return json.loads(r.read())["uploads"]

    def submit(self, tool: str, model: str, params: dict, inputs: list[str]) -> dict:
        """POST /v1/jobs. The Idempotency-Key makes a retry after a lost answer return the same job."""
        key = uuid.uuid4().hex
        payload = {"tool": tool, "model": model, "params": params, "inputs": inputs}
        for attempt in range(3):
            try:
                return self.json("POST", "/v1/jobs", payload, {"Idempotency-Key": key})
            except urllib.error.URLError as err:  # no answer: the job may or may not exist; retry the same key
                if attempt == 2:
                    raise
                print(f"no answer ({err.reason}); retrying", file=sys.stderr)
                time.sleep(1)

    def events(self, job_id: str):
        """Each state of the job from GET /v1/jobs/{id}/events, until it finishes."""
        with self.open("GET", f"/v1/jobs/{job_id}/events", headers={"Accept": "text/event-stream"}) as r:
            data = []
            for raw in r:  # server-sent events: "field: value" lines, a blank line ends an event
                line = raw.decode().rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    yield json.loads("\n".join(data))
                    data = []

    def wait(self, job_id: str, on_change) -> dict:
        """Follow the job's events (polling if the stream breaks) until it finishes."""
        job = None
        try:
            for job in self.events(job_id):
                on_change(job)
                if job["status"] in FINISHED:
                    return job
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            print(f"event stream broke ({err}); polling", file=sys.stderr)
        while job is None or job["status"] not in FINISHED:
            time.sleep(1)
            job = self.json("GET", f"/v1/jobs/{job_id}")
            on_change(job)
        return job

    def download(self, path: str, out: Path) -> int:
        with self.open("GET", path) as r:
            data = r.read()
        out.write_bytes(data)
        return len(data)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run one studio job over some images and download the zip.")
    parser.add_argument("images", nargs="*", type=Path, help="input images (tools that take images)")
    parser.add_argument("--url", default=os.environ.get("GANFORGE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--key", default=os.environ.get("GANFORGE_KEY"), help="API key (default: $GANFORGE_KEY)")
    parser.add_argument("--tool", required=True, help="a tool of GET /v1/tools: upscale, denoise, generate, ...")
    parser.add_argument("--model", required=True, help="one of the tool's models")
    parser.add_argument("--params", default="{}", help="the tool's parameters as JSON")
    parser.add_argument("--out", type=Path, default=Path("results.zip"))
    args = parser.parse_args()
    if not args.key:
        parser.error("no API key: pass --key or set GANFORGE_KEY (ganforge keys create NAME prints one)")
    studio = Studio(args.url, args.key)
    try:
        inputs = []
        if args.images:
            uploads = studio.upload(args.images)
            inputs = [u["id"] for u in uploads]
            print(f"uploaded {len(uploads)} image(s): " + ", ".join(f"{u['filename']} {u['width']}x{u['height']}"
                                                                   for u in uploads))
        job = studio.submit(args.tool, args.model, json.loads(args.params), inputs)
    except ApiError as err:
        print(f"refused: {err}" + (f" (field {err.field})" if err.field else ""), file=sys.stderr)
        return 2
    print(f"job {job['id']}: {job['status']}, {job['progress']['items_total']} item(s)")

    seen: dict[int, str] = {}

    def on_change(job: dict) -> None:
        for item in job["items"]:
            if seen.get(item["index"]) != item["status"]:
                seen[item["index"]] = item["status"]
                error = f" ({item['error']})" if item["error"] and item["status"] != "cancelled" else ""
                print(f"  {job['progress']['fraction']:4.0%}  {item['label']}: {item['status']}{error}", flush=True)

    try:
        job = studio.wait(job["id"], on_change)
    except KeyboardInterrupt:
        print(f"cancelling {job['id']}", file=sys.stderr)
        studio.json("DELETE", f"/v1/jobs/{job['id']}")
        job = studio.wait(job["id"], on_change)
    print(f"job {job['id']}: {job['status']}" + (f" ({job['error']})" if job["error"] else ""))
    if any(item["result_url"] for item in job["items"]):
        size = studio.download(job["links"]["zip"], args.out)
        print(f"wrote {args.out} ({size / 1024:.0f} KiB)")
    return 0 if job["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
