"""Jobs and uploads through the API: the lifecycle (202 + Location, polling, server-sent events,
history, results and zip), partial batches, idempotent retries, cancellation, requests refused
with the field named, and uploads refused before anything is stored."""

from __future__ import annotations

import io
import json
import time
import zipfile

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ganforge.service.tools import TEXT_PREFIX

from ..test_latent import bomb_png
from .conftest import key, make_app, wait_for

GENERATE = {"tool": "generate", "model": "fashion-cgan", "params": {"seeds": [1, 2], "count": 2}}
ID_CHARS = set("0123456789abcdef")


def png_bytes(w: int, h: int, seed: int = 0, fmt: str = "PNG", mode: str = "RGB", **save) -> bytes:
    """A noisy image (noise keeps PNGs from compressing, so bytes grow with pixels)."""
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, format=fmt, **save)
    return buf.getvalue()


def flat_bytes(mode: str, w: int, h: int, fmt: str = "PNG") -> bytes:
    """A one-colour image: few bytes for many pixels."""
    buf = io.BytesIO()
    Image.new(mode, (w, h), 7).save(buf, format=fmt)
    return buf.getvalue()


def upload(client: TestClient, headers: dict, *files: tuple[str, bytes]) -> list[dict]:
    r = client.post("/v1/uploads", files=[("files", (name, data, "application/octet-stream")) for name, data in files],
                    headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["uploads"]


def submit(client: TestClient, headers: dict, body: dict, **kw) -> dict:
    r = client.post("/v1/jobs", json=body, headers=headers, **kw)
    assert r.status_code == 202, r.text
    return r.json()


@pytest.fixture
def alice(app):
    return key(app, "alice")


def test_a_job_from_submission_to_results_and_zip(client, alice):
    r = client.post("/v1/jobs", json=GENERATE, headers=alice)
    job = r.json()
    assert r.status_code == 202 and r.headers["location"] == f"/v1/jobs/{job['id']}" == job["links"]["self"]
    assert job["status"] in ("queued", "running") and job["params"]["count"] == 2 and job["params"]["truncation"] == 1
    assert [(it["label"], it["seed"]) for it in job["items"]] == [("seed 1", 1), ("seed 2", 2)]

    done = wait_for(client, job["id"], alice)
    assert done["status"] == "succeeded" and done["attempts"] == 1 and done["error"] is None
    assert done["progress"] == {"items_done": 2, "items_total": 2, "fraction": 1.0}
    assert done["started"] >= done["created"] and done["finished"] >= done["started"]
    results = {}
    for it in done["items"]:
        assert it["status"] == "succeeded" and it["result_url"] == f"/v1/jobs/{job['id']}/results/{it['index']}"
        r = client.get(it["result_url"], headers=alice)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        png = Image.open(io.BytesIO(r.content))
        assert png.text[f"{TEXT_PREFIX}seed"] == str(it["seed"]) and png.text[f"{TEXT_PREFIX}model"] == "fashion-cgan"
        results[r.headers["content-disposition"].split('"')[1]] = r.content
    assert list(results) == ["0001-seed-1.png", "0002-seed-2.png"]
    assert results["0001-seed-1.png"] != results["0002-seed-2.png"]

    r = client.get(done["links"]["zip"], headers=alice)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == [*results, "job.json"]
        assert all(zf.read(name) == data for name, data in results.items())
        meta = json.loads(zf.read("job.json"))
    assert (meta["id"], meta["tool"], meta["model"], meta["params"]) == (job["id"], "generate", "fashion-cgan",
                                                                         done["params"])
    assert client.get(f"/v1/jobs/{job['id']}/results/7", headers=alice).status_code == 404
    assert client.get("/v1/jobs/" + "f" * 24, headers=alice).status_code == 404
    events, _ = _events(client, done["links"]["events"], alice)  # a finished job's stream: one event, then the end
    assert [e["status"] for e in events] == ["succeeded"]


def test_events_stream_progress_until_the_job_finishes(tmp_path):
    app = make_app(tmp_path / "studio", events_poll=0.02)  # look often enough to see every tile's progress
    with TestClient(app) as client:
        alice = key(app)
        photo = upload(client, alice, ("p.png", png_bytes(200, 200)))[0]
        job = submit(client, alice, {"tool": "upscale", "model": "photo-upscale-x2", "params": {"tile": 32},
                                     "inputs": [photo["id"]]})
        events, ids = _events(client, job["links"]["events"], alice)
    fractions = [e["progress"]["fraction"] for e in events]
    assert events[-1]["status"] == "succeeded" and fractions[-1] == 1.0
    assert all(e["status"] in ("queued", "running") for e in events[:-1])
    assert fractions == sorted(fractions) and any(0 < f < 1 for f in fractions), fractions
    assert ids == sorted(set(ids)) and len(ids) == len(events) >= 3
    tiles = [e["items"][0]["progress"] for e in events if e["items"][0]["status"] == "running"]
    assert any(0 < t["done"] < t["total"] for t in tiles), tiles


def _events(client: TestClient, url: str, headers: dict) -> tuple[list[dict], list[int]]:
    """The jobs and ids of a server-sent event stream, read until the server ends it."""
    events, ids = [], []
    with client.stream("GET", url, headers=headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
            elif line.startswith("id: "):
                ids.append(int(line[4:]))
    return events, ids


def test_history_pages_newest_first(app, client, alice):
    ids = [submit(client, alice, {**GENERATE, "params": {"seeds": [i], "count": 1}})["id"] for i in range(5)]
    submit(client, key(app, "bob"), GENERATE)  # someone else's job is not in alice's history
    seen, before, pages = [], None, 0
    while True:
        page = client.get("/v1/jobs", params={"limit": 2, **({"before": before} if before else {})}, headers=alice)
        body = page.json()
        seen += [j["id"] for j in body["jobs"]]
        pages += 1
        before = body["next_before"]
        if before is None:
            break
    assert seen == ids[::-1] and pages == 3
    for job_id in ids:
        wait_for(client, job_id, alice)
    assert len(client.get("/v1/jobs", params={"status": "succeeded"}, headers=alice).json()["jobs"]) == 5
    assert client.get("/v1/jobs", params={"status": "queued"}, headers=alice).json()["jobs"] == []
    for params, field in (({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"status": "done"}, "status"),
                          ({"before": 0}, "before"), ({"before": 2**63}, "before")):  # no larger SQLite integer
        r = client.get("/v1/jobs", params=params, headers=alice)
        assert (r.status_code, r.json()["error"]["field"]) == (422, field)


def test_a_batch_with_a_bad_image_is_partial_with_the_items_error(app, client, alice):
    lab = io.BytesIO()
    Image.new("LAB", (12, 12)).save(lab, format="TIFF")  # an image the upload accepts, but no photo tool reads
    ups = upload(client, alice, ("one.png", png_bytes(16, 12)), ("lab.tif", lab.getvalue()),
                 ("three.jpg", png_bytes(12, 16, fmt="JPEG")))
    job = submit(client, alice, {"tool": "denoise", "model": "photo-denoise", "inputs": [u["id"] for u in ups]})
    done = wait_for(client, job["id"], alice)
    assert done["status"] == "partial" and done["error"] is None
    assert [it["status"] for it in done["items"]] == ["succeeded", "failed", "succeeded"]
    error = done["items"][1]["error"]
    assert error == "lab.tif: unsupported colour mode LAB"  # named as the client knows it, not by server path
    assert str(app.state.settings.data_dir) not in json.dumps(done)
    assert client.get(done["items"][1]["input_url"], headers=alice).content == lab.getvalue()
    assert client.get(f"/v1/jobs/{job['id']}/results/1", headers=alice).status_code == 404
    with zipfile.ZipFile(io.BytesIO(client.get(done["links"]["zip"], headers=alice).content)) as zf:
        assert sorted(zf.namelist()) == ["0001-one.png", "0003-three.png", "job.json"]
        assert json.loads(zf.read("job.json"))["items"][1]["error"] == error


def test_an_idempotency_key_returns_the_same_job(app, client, alice):
    retry = {"Idempotency-Key": "order-17"}
    first = client.post("/v1/jobs", json=GENERATE, headers={**alice, **retry})
    second = client.post("/v1/jobs", json=GENERATE, headers={**alice, **retry})
    assert first.status_code == second.status_code == 202
    assert second.json()["id"] == first.json()["id"] and second.headers["location"] == first.headers["location"]
    other_body = client.post("/v1/jobs", json={**GENERATE, "params": {"seeds": [9]}}, headers={**alice, **retry})
    assert (other_body.status_code, other_body.json()["error"]["code"]) == (409, "conflict")
    bob = client.post("/v1/jobs", json=GENERATE, headers={**key(app, "bob"), **retry})  # keys are per caller
    assert bob.status_code == 202 and bob.json()["id"] != first.json()["id"]
    assert len(app.state.store.jobs(None)) == 2
    assert client.post("/v1/jobs", json=GENERATE, headers={**alice, "Idempotency-Key": "x" * 201}).status_code == 422


def test_cancel_queued_and_running_jobs(app, client, alice):
    photo = upload(client, alice, ("big.png", png_bytes(400, 400)))[0]
    slow = submit(client, alice, {"tool": "upscale", "model": "photo-upscale-x2", "params": {"tile": 32},
                                  "inputs": [photo["id"]]})
    wait_for(client, slow["id"], alice, until=lambda j: j["items"][0]["progress"]["done"] > 0)
    queued = submit(client, alice, GENERATE)  # the one worker is busy
    assert client.get(f"/v1/jobs/{queued['id']}", headers=alice).json()["status"] == "queued"

    r = client.delete(f"/v1/jobs/{queued['id']}", headers=alice)
    assert (r.status_code, r.json()) == (202, {"id": queued["id"], "status": "cancelled"})
    gone = client.get(f"/v1/jobs/{queued['id']}", headers=alice).json()
    assert gone["status"] == "cancelled" and {it["status"] for it in gone["items"]} == {"cancelled"}

    r = client.delete(f"/v1/jobs/{slow['id']}", headers=alice)
    assert (r.status_code, r.json()["status"]) == (202, "running")  # stops at its next tile
    done = wait_for(client, slow["id"], alice, timeout=10)
    item = done["items"][0]
    assert done["status"] == "cancelled" and item["status"] == "cancelled"
    assert item["progress"]["done"] < item["progress"]["total"]  # it did not run to the end
    assert client.get("/v1/usage", headers=alice).json()["images_today"]["used"] == 0  # unrun images are not counted

    for job in (slow, queued):
        r = client.delete(f"/v1/jobs/{job['id']}", headers=alice)
        assert (r.status_code, r.json()["error"]["code"]) == (409, "conflict") and "already cancelled" in r.text
    finished = submit(client, alice, GENERATE)
    wait_for(client, finished["id"], alice)
    assert client.delete(f"/v1/jobs/{finished['id']}", headers=alice).status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"tool": "paint", "model": "fashion-cgan"}, "tool"),
    ({"tool": "generate", "model": "photo-upscale-x2"}, "model"),
    ({"tool": "generate", "model": "nope"}, "model"),
    ({"tool": "mix", "model": "fashion-dcgan", "params": {"classes": "bag"}}, "model"),
    ({**GENERATE, "params": {"count": 0}}, "params.count"),
    ({**GENERATE, "params": {"count": "many"}}, "params.count"),
    ({**GENERATE, "params": {"colour": "red"}}, "params.colour"),
    ({**GENERATE, "params": {"seeds": [1, 1]}}, "params.seeds"),
    ({**GENERATE, "params": {"seeds": [-3]}}, "params.seeds.0"),
    ({**GENERATE, "params": {"classes": "hat"}}, "params.classes"),
    ({**GENERATE, "params": {"truncation": 1.5}}, "params.truncation"),
    ({"tool": "interpolate", "model": "fashion-cgan"}, "params.classes"),
    ({**GENERATE, "inputs": ["0" * 24]}, "inputs"),
    ({"tool": "upscale", "model": "photo-upscale-x2"}, "inputs"),
    ({"tool": "upscale", "model": "photo-upscale-x2", "inputs": ["f" * 24]}, "inputs[0]"),
    ({"tool": "upscale", "model": "photo-upscale-x2", "inputs": ["../../studio.sqlite3"]}, "inputs[0]"),
    ({"tool": "upscale", "model": "photo-upscale-x2", "params": {"tile": 8}, "inputs": ["f" * 24]}, "params.tile"),
    ({**GENERATE, "priority": "high"}, "priority"),
    ({"model": "fashion-cgan"}, "tool"),
    ({"tool": 5, "model": "fashion-cgan"}, "tool"),
    ({**GENERATE, "inputs": "abc"}, "inputs"),
    ({**GENERATE, "params": [1, 2]}, "params"),
])
def test_invalid_jobs_are_refused_naming_the_field(app, client, alice, body, field):
    r = client.post("/v1/jobs", json=body, headers=alice)
    error = r.json()["error"]
    assert (r.status_code, error["code"], error["field"]) == (422, "invalid", field), r.text
    assert "\n" not in error["message"]
    assert app.state.store.jobs(None) == []


def test_wrong_methods_and_unreadable_bodies(client, alice):
    for method, url, allow in (("OPTIONS", "/v1/jobs", "GET, POST"), ("PUT", "/v1/jobs/" + "0" * 24, "GET, DELETE"),
                               ("POST", "/v1/usage", "GET")):
        r = client.request(method, url, headers=alice)
        assert (r.status_code, r.headers["allow"]) == (405, allow)  # every method of the path, not one route's
        assert r.json()["error"]["code"] == "method_not_allowed"
    r = client.post("/v1/jobs", content=b'{"tool": "generate",', headers={**alice, "Content-Type": "application/json"})
    error = r.json()["error"]
    assert (r.status_code, error["field"]) == (422, None) and error["message"].startswith("the body is not valid JSON")


def test_a_foreign_upload_is_refused_as_an_input(app, client, alice):
    theirs = upload(client, key(app, "bob"), ("b.png", png_bytes(8, 8)))[0]["id"]
    r = client.post("/v1/jobs", json={"tool": "upscale", "model": "photo-upscale-x2", "inputs": [theirs]},
                    headers=alice)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "inputs[0]") and "of yours" in r.text


def test_too_many_items_in_one_job(tmp_path):
    app = make_app(tmp_path / "studio", max_items_per_job=2)
    client, alice = TestClient(app), key(app)  # no lifespan: nothing runs
    r = client.post("/v1/jobs", json={**GENERATE, "params": {"seeds": [1, 2, 3]}}, headers=alice)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "params.seeds") and "at most 2" in r.text
    ids = [u["id"] for u in upload(client, alice, *[(f"{i}.png", png_bytes(8, 8, i)) for i in range(3)])]
    r = client.post("/v1/jobs", json={"tool": "denoise", "model": "photo-denoise", "inputs": ids}, headers=alice)
    assert (r.status_code, r.json()["error"]["field"]) == (422, "inputs")
    assert client.post("/v1/jobs", json={**GENERATE, "params": {"seeds": [1, 2]}}, headers=alice).status_code == 202


# Uploads ---------------------------------------------------------------------------------------


def _nothing_stored(app) -> None:
    store = app.state.store
    assert list((store.data_dir / "uploads").iterdir()) == []
    assert store.query("SELECT COUNT(*) FROM uploads")[0][0] == 0


@pytest.fixture
def small(tmp_path):
    """A studio with small upload limits: 4000 bytes and 5000 pixels a file, 3 files an upload."""
    app = make_app(tmp_path / "small", max_upload_bytes=4000, max_upload_pixels=5000, max_files_per_upload=3)
    return app, TestClient(app), key(app)


def _gif(frames: int) -> bytes:
    buf = io.BytesIO()
    images = [Image.new("L", (8, 8), i * 80) for i in range(frames)]
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=100)
    return buf.getvalue()


def _bomb(tmp_path) -> bytes:
    return bomb_png(tmp_path / "bomb.png", 60_000, 60_000).read_bytes()


@pytest.mark.parametrize("make, status, needle", [
    (lambda tmp: png_bytes(40, 40), 413, "larger than"),  # 4800 pixels, but over 4000 bytes
    (lambda tmp: flat_bytes("L", 100, 100), 413, "too large: 100 x 100 > 5000 pixels"),
    (_bomb, 413, "too large: Image size (3600000000 pixels)"),  # a tiny file that claims 3.6 gigapixels
    (lambda tmp: b"just some text, not a picture", 415, "not an image"),
    (lambda tmp: b"", 415, "empty file"),
    (lambda tmp: png_bytes(20, 20)[:300], 415, "truncated"),
    (lambda tmp: flat_bytes("RGB", 16, 16, fmt="ICO"), 415, "not an image (accepted formats: PNG"),
    (lambda tmp: _gif(2), 415, "animated image (2 frames)"),
])
def test_refused_uploads(small, tmp_path, make, status, needle):
    app, client, alice = small
    data = make(tmp_path)
    r = client.post("/v1/uploads", files=[("files", ("ok.png", png_bytes(8, 8), "image/png")),
                                          ("files", ("x.png", data, "image/png"))], headers=alice)
    error = r.json()["error"]
    assert (r.status_code, error["field"]) == (status, "files[1]"), r.text
    assert needle in error["message"] and error["message"].startswith("x.png: ")
    _nothing_stored(app)  # the first, good file of the refused upload was not kept either


def test_uploads_refused_before_reading_them(small):
    app, client, alice = small
    four = [("files", (f"{i}.png", png_bytes(8, 8, i), "image/png")) for i in range(4)]
    r = client.post("/v1/uploads", files=four, headers=alice)
    assert (r.status_code, r.json()["error"]["field"]) == (413, "files") and "at most 3" in r.text
    huge = b"x" * (3 * 4000 + 2**20 + 1)  # more than three files' worth: refused from Content-Length alone
    r = client.post("/v1/uploads", content=huge, headers={**alice, "Content-Type": "multipart/form-data; boundary=b"})
    assert (r.status_code, r.json()["error"]["code"]) == (413, "too_large")
    r = client.post("/v1/uploads", content=iter([b"--b--\r\n"]),  # chunked: no length to check
                    headers={**alice, "Content-Type": "multipart/form-data; boundary=b"})
    assert r.status_code == 411
    r = client.post("/v1/uploads", headers=alice)
    assert r.status_code == 422 and r.json()["error"]["field"] == "files"
    _nothing_stored(app)


def test_uploads_keep_the_bytes_sent_and_names_never_reach_the_filesystem(app, client, alice, tmp_path):
    sent = {"../../escape.png": png_bytes(10, 8, 1), "..\\..\\windows.bmp": png_bytes(9, 7, 2, fmt="BMP"),
            "/etc/cron.d/job.jpg": png_bytes(8, 8, 3, fmt="JPEG"), "../": png_bytes(6, 6, 4, fmt="WEBP")}
    ups = upload(client, alice, *sent.items())
    assert [u["filename"] for u in ups] == ["escape.png", "windows.bmp", "job.jpg", "upload-4"]
    assert [(u["format"], u["width"], u["height"]) for u in ups] == [("PNG", 10, 8), ("BMP", 9, 7), ("JPEG", 8, 8),
                                                                      ("WEBP", 6, 6)]
    for u, data in zip(ups, sent.values()):
        r = client.get(u["url"], headers=alice)
        assert r.content == data and u["bytes"] == len(data)
    assert client.get(ups[1]["url"], headers=alice).headers["content-type"] == "image/bmp"

    job = submit(client, alice, {"tool": "denoise", "model": "photo-denoise", "inputs": [u["id"] for u in ups]})
    assert wait_for(client, job["id"], alice)["status"] == "succeeded"
    data_dir = app.state.settings.data_dir
    assert sorted(p.name for p in (data_dir / "uploads").iterdir()) == sorted(u["id"] for u in ups)
    assert all(set(u["id"]) <= ID_CHARS and len(u["id"]) == 24 for u in ups)
    results = sorted(p.name for p in (data_dir / "results" / job["id"]).iterdir())
    assert results == ["0001-escape.png", "0002-windows.png", "0003-job.png", "0004-upload-4.png"]
    names = {p.name for p in tmp_path.rglob("*")}
    assert not names & {"escape.png", "windows.bmp", "job.jpg", "cron.d"}
    assert not (tmp_path.parent / "escape.png").exists()
