"""What one request may cost (issue 28's findings 2-5, each reproduced): bodies capped before
parsing, malformed bodies as api.md says, parameters that depend on the model checked at submit,
and a daily quota that counts every image a job makes."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from ganforge.studio.bodylimit import BodyLimit

from .conftest import key

GENERATE = {"tool": "generate", "model": "fashion-cgan"}
JSON = {"Content-Type": "application/json"}


# ------------------------------------------------------------------------------ bodies capped

def run_asgi(app, *, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, bytes, int]:
    """Call ASGI ``app`` with a POST; (status, body, how many body messages it read)."""
    sent, reads = [], [0]
    pending = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive():
        reads[0] += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/jobs", "headers": headers}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"), reads[0]


async def echo(scope, receive, send):
    """An app that reads the whole body and answers its length."""
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(size).encode()})


def test_a_body_declared_too_large_is_refused_without_reading_it():
    status, body, reads = run_asgi(BodyLimit(echo, max_bytes=100), headers=[(b"content-length", b"200000000")],
                                   chunks=[b"x" * 10])
    assert (status, reads) == (413, 0)
    assert json.loads(body)["error"]["code"] == "too_large" and "200000000 bytes" in body.decode()


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    status, _, reads = run_asgi(BodyLimit(echo, max_bytes=100), headers=[], chunks=[b"x" * 60] * 50)
    assert (status, reads) == (413, 2)  # the second 60-byte chunk passed 100: nothing more was read


def test_a_body_within_the_limit_reaches_the_app_whole():
    status, body, _ = run_asgi(BodyLimit(echo, max_bytes=100), headers=[], chunks=[b"x" * 40, b"y" * 60])
    assert (status, body) == (200, b"100")


def test_the_server_refuses_a_large_json_body_with_413(client, app):
    headers = {**key(app), **JSON}
    junk = json.dumps({**GENERATE, "junk": "x" * (2**20)})
    r = client.post("/v1/jobs", content=junk, headers=headers)
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    assert client.post("/v1/jobs", json={**GENERATE, "params": {"count": 1}}, headers=headers).status_code == 202


# -------------------------------------------------------------------- malformed bodies: 422

@pytest.mark.parametrize("body, needle", [
    (b'{"tool": "generate", "model": "\xff\xfe"}', "not UTF-8 JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    (b'{"tool": "gen', "not valid JSON"),
])
def test_malformed_bodies_are_422_invalid(client, app, body, needle):
    r = client.post("/v1/jobs", content=body, headers={**key(app), **JSON})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid" and needle in r.json()["error"]["message"]


@pytest.mark.parametrize("value", [True, "8", 8.0])
def test_params_take_json_types_as_documented(client, app, value):
    r = client.post("/v1/jobs", json={**GENERATE, "params": {"count": value}}, headers=key(app))
    assert (r.status_code, r.json()["error"]["field"]) == (422, "params.count")


# ----------------------------------------------------------- model-dependent parameters at submit

@pytest.mark.parametrize("layers, needle", [
    ("0-9999", "fashion-stylegan has 9 style layers: choose within 0-8, got 0-9999"),
    ("9", "choose within 0-8"),
    ("5-1", "'5-1' is a reversed range; write the lower layer first (1-5)"),
])
def test_style_layers_are_checked_against_the_model_at_submit(client, app, layers, needle):
    headers = key(app)
    r = client.post("/v1/jobs", headers=headers, json={"tool": "mix", "model": "fashion-stylegan",
                                                       "params": {"layers": layers, "classes": "bag"}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "params.layers", r.text
    assert needle in r.json()["error"]["message"]
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []
    ok = client.post("/v1/jobs", headers=headers, json={"tool": "mix", "model": "fashion-stylegan",
                                                        "params": {"layers": "0-8", "classes": "bag"}})
    assert ok.status_code == 202


# ------------------------------------------------------------------- quotas count images

def test_the_daily_quota_counts_every_image_of_a_grid(client, app):
    headers = key(app, "bob", images_per_day=3)
    r = client.post("/v1/jobs", json={**GENERATE, "params": {"seeds": [1], "count": 4}}, headers=headers)
    assert r.status_code == 429 and "this job makes 4 images" in r.json()["error"]["message"]
    assert client.post("/v1/jobs", json={**GENERATE, "params": {"seeds": [1], "count": 3}},
                       headers=headers).status_code == 202
    assert client.get("/v1/usage", headers=headers).json()["images_today"]["used"] == 3
    r = client.post("/v1/jobs", json={**GENERATE, "params": {"seeds": [2], "count": 1}}, headers=headers)
    assert r.status_code == 429


@pytest.mark.parametrize("tool, params, images", [
    ("generate", {"seeds": [1, 2], "count": 5}, 10),
    ("interpolate", {"seeds": [1, 2, 3], "steps": 4, "classes": "bag"}, 11),  # 3 keyframes + 2 x 4 between
    ("mix", {"rows": [1, 2], "cols": [3, 4, 5], "classes": "bag"}, 11),  # 6 cells + 2 + 3 on the edges
])
def test_each_generation_tool_counts_the_images_it_makes(client, app, tool, params, images):
    headers = key(app, "carol", images_per_day=1000)
    model = "fashion-stylegan" if tool == "mix" else "fashion-cgan"
    assert client.post("/v1/jobs", json={"tool": tool, "model": model, "params": params},
                       headers=headers).status_code == 202
    assert client.get("/v1/usage", headers=headers).json()["images_today"]["used"] == images


def test_items_from_before_image_counts_count_one_image_each(tmp_path):
    from ganforge.studio.store import Store

    fixture = Path(__file__).parent / "fixtures" / "datadir-v1"
    shutil.copytree(fixture, tmp_path / "d")
    store = Store(tmp_path / "d")
    rows = store.query("SELECT images, COUNT(*) AS n FROM items GROUP BY images")
    assert [(r["images"], r["n"] > 0) for r in rows] == [(1, True)]


# ----------------------------------------------------------------- a cost known at submit

@pytest.fixture
def limited(tmp_path):
    """``start(**settings)``: a TestClient on an app with those settings, and a key's headers."""
    from contextlib import ExitStack

    from fastapi.testclient import TestClient

    from .conftest import make_app

    with ExitStack() as stack:
        def start(**settings):
            app = make_app(tmp_path / "limited", **settings)
            return stack.enter_context(TestClient(app)), key(app)
        yield start


def upload_png(client, headers, size: tuple[int, int], mode: str = "RGB") -> str:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size).save(buf, "PNG")
    r = client.post("/v1/uploads", files=[("files", ("a.png", buf.getvalue(), "image/png"))], headers=headers)
    return r.json()["uploads"][0]["id"]

def test_the_probes_huge_upscale_is_refused_at_submit_with_the_limit_and_the_figure(client, app):
    """Finding 1: a 35 KB black 6000 x 6000 PNG (under the 40 MP upload limit) upscaled 4x would be
    576 MP; it is refused before anything is queued, naming the limit and the figure."""
    headers = key(app)
    upload = upload_png(client, headers, (6000, 6000), "L")
    assert int(client.get(f"/v1/uploads/{upload}", headers=headers).headers["content-length"]) < 200_000
    r = client.post("/v1/jobs", headers=headers, json={"tool": "upscale", "model": "photo-upscale-x4",
                                                       "params": {"tile": 512}, "inputs": [upload]})
    assert r.status_code == 413 and r.json()["error"]["field"] == "inputs[0]", r.text
    message = r.json()["error"]["message"]
    assert "24000 x 24000 result, 576 megapixels" in message and "at most 100 megapixels" in message
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []  # nothing queued
    # the same photo at 1x (denoise) is within the limit
    ok = client.post("/v1/jobs", headers=headers, json={"tool": "denoise", "model": "photo-denoise",
                                                        "inputs": [upload]})
    assert ok.status_code == 202
    client.delete(f"/v1/jobs/{ok.json()['id']}", headers=headers)  # 36 MP of denoising is not this test's work


def test_the_output_limit_is_a_server_setting(limited):
    client, headers = limited(max_output_megapixels=0.1)
    upload = upload_png(client, headers, (200, 200))
    r = client.post("/v1/jobs", headers=headers, json={"tool": "upscale", "model": "photo-upscale-x2",
                                                       "inputs": [upload]})
    assert r.status_code == 413 and "400 x 400 result" in r.json()["error"]["message"]
    assert client.post("/v1/jobs", headers=headers, json={"tool": "colorize", "model": "photo-colorize",
                                                          "inputs": [upload]}).status_code == 202


def test_a_job_making_more_images_than_the_server_allows_is_refused(limited):
    client, headers = limited(max_images_per_job=1000)
    r = client.post("/v1/jobs", headers=headers, json={**GENERATE, "params": {"seeds": list(range(64)),
                                                                              "count": 100}})
    assert r.status_code == 422 and "this job makes 6400 images" in r.json()["error"]["message"]
    assert "at most 1000 in one job" in r.json()["error"]["message"]
    ok = client.post("/v1/jobs", headers=headers, json={**GENERATE, "params": {"seeds": list(range(10)),
                                                                               "count": 100}})
    assert ok.status_code == 202
    client.delete(f"/v1/jobs/{ok.json()['id']}", headers=headers)  # a thousand images are not this test's work


# ----------------------------------------------- per-key limits and the job's memory at submit

def test_a_key_can_have_a_lower_output_limit_than_the_server(limited):
    client, owner = limited()
    capped = key(client.app, "small", max_output_megapixels=0.1)
    upload = upload_png(client, capped, (200, 200))
    body = {"tool": "upscale", "model": "photo-upscale-x2", "params": {"tile": 128}}
    r = client.post("/v1/jobs", headers=capped, json={**body, "inputs": [upload]})
    assert r.status_code == 413, r.text
    message = r.json()["error"]["message"]
    assert "400 x 400 result" in message and "at most 0.1 megapixels per result (key 'small' --max-output-megapixels)" \
        in message
    assert client.get("/v1/jobs", headers=capped).json()["jobs"] == []
    # the same job from a key without its own limit is the server's to judge: accepted
    ok = client.post("/v1/jobs", headers=owner, json={**body, "inputs": [upload_png(client, owner, (200, 200))]})
    assert ok.status_code == 202, ok.text
    # a key's limit above the server's does not raise the server's
    loose = key(client.app, "loose", max_output_megapixels=5000)
    limits = client.get("/v1/usage", headers=loose).json()["job"]
    assert limits["max_output_megapixels"] == 100.0 and limits["max_job_memory_mib"] == 2048
    assert client.get("/v1/usage", headers=capped).json()["job"]["max_output_megapixels"] == 0.1


def test_a_job_whose_memory_estimate_is_past_the_limit_is_refused_with_the_figure(limited):
    client, headers = limited(max_job_memory_mib=64)
    upload = upload_png(client, headers, (1000, 1000))
    big = client.post("/v1/jobs", headers=headers, json={"tool": "upscale", "model": "photo-upscale-x2",
                                                         "params": {"tile": 512}, "inputs": [upload]})
    assert big.status_code == 413 and big.json()["error"]["field"] == "inputs[0]", big.text
    message = big.json()["error"]["message"]
    figure = int(message.split("would need about ")[1].split(" MiB")[0].replace(",", ""))
    assert figure > 64 and "at most 64 MiB per job (--max-job-memory-mib)" in message
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []
    small = client.post("/v1/jobs", headers=headers, json={"tool": "upscale", "model": "photo-upscale-x2",
                                                           "params": {"tile": 64},
                                                           "inputs": [upload_png(client, headers, (100, 100))]})
    assert small.status_code == 202, small.text


def test_the_memory_estimate_grows_with_the_image_and_the_tile():
    from ganforge.service.tools import TOOLS

    upscale = TOOLS.get("upscale")
    small_tile, big_tile = upscale.Params(tile=128), upscale.Params(tile=1024)
    est = lambda params, size: upscale.memory("photo-upscale-x2", params, {"image": size})  # noqa: E731
    assert est(small_tile, (2000, 2000)) < est(big_tile, (2000, 2000))
    assert est(small_tile, (1000, 1000)) < est(small_tile, (2000, 2000))
    # the uint8 result alone (4 bytes a pixel of room) is a floor the estimate never goes under
    assert est(small_tile, (2000, 2000)) > 4000 * 4000 * 4
    # a tool that makes from seeds has no size-dependent cost
    assert TOOLS.get("generate").memory("fashion-cgan", TOOLS.get("generate").Params(), {}) is None
    # a composite grows with its background and with its subject's scaled box
    composite = TOOLS.get("composite")
    both = lambda subject, background, scale=1.0: composite.memory(  # noqa: E731
        "poisson-blend", composite.Params(scale=scale), {"subject": subject, "background": background})
    assert both((100, 100), (1000, 1000)) < both((100, 100), (2000, 2000))
    assert both((100, 100), (2000, 2000)) < both((400, 400), (2000, 2000)) < both((400, 400), (2000, 2000), 2.0)


def test_keys_create_takes_per_key_limits_and_lists_them(tmp_path):
    from click.testing import CliRunner

    from ganforge.cli import cli as main

    runner = CliRunner()
    data = str(tmp_path / "data")
    made = runner.invoke(main, ["keys", "create", "bob", "--max-output-megapixels", "12.5",
                                "--max-job-memory-mib", "512", "--data-dir", data])
    assert made.exit_code == 0, made.output
    listing = runner.invoke(main, ["keys", "list", "--data-dir", data]).output
    row = next(line for line in listing.splitlines() if line.startswith("bob"))
    assert row.split()[4:6] == ["12.5", "512"]
    bad = runner.invoke(main, ["keys", "create", "eve", "--max-job-memory-mib", "0", "--data-dir", data])
    assert bad.exit_code != 0 and "--max-job-memory-mib" in bad.output
    assert "eve" not in runner.invoke(main, ["keys", "list", "--data-dir", data]).output


def test_a_composite_whose_subject_box_is_too_large_is_refused_naming_the_subject(limited):
    client, headers = limited(max_job_memory_mib=200)

    def upload_rgba(size):
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGBA", size, (200, 30, 30, 255)).save(buf, "PNG")
        r = client.post("/v1/uploads", files=[("files", ("cut.png", buf.getvalue(), "image/png"))], headers=headers)
        return r.json()["uploads"][0]["id"]

    small, big = upload_rgba((64, 64)), upload_rgba((1000, 1000))
    background = upload_png(client, headers, (1200, 1000))
    body = {"tool": "composite", "model": "poisson-blend"}
    r = client.post("/v1/jobs", headers=headers, json={**body, "inputs": {"subject": [small, big],
                                                                          "background": [background]}})
    assert r.status_code == 413 and r.json()["error"]["field"] == "inputs.subject[1]", r.text
    assert "at most 200 MiB per job" in r.json()["error"]["message"]
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []
    ok = client.post("/v1/jobs", headers=headers, json={**body, "inputs": {"subject": [small],
                                                                           "background": [background]}})
    assert ok.status_code == 202, ok.text
