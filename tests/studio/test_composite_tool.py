"""The composite tool through the studio's API: two named image inputs (subjects, one background),
its own method as its model, one result per subject, and a subject the tool cannot use failing
its item with the reason."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ganforge.compose import composite_image

from .conftest import wait_for

pytest.importorskip("fastapi")


def png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, "PNG")
    return buf.getvalue()


def cutout(colour: tuple[int, int, int]) -> bytes:
    rgba = np.zeros((12, 12, 4), np.uint8)
    rgba[..., :3] = colour
    rgba[2:10, 3:9, 3] = 255
    return png(rgba, "RGBA")


BACKGROUND = png(np.dstack([np.tile(np.arange(40, dtype=np.uint8) * 5, (30, 1))] * 3), "RGB")


def upload(client, headers, name: str, data: bytes) -> str:
    r = client.post("/v1/uploads", files=[("files", (name, data, "image/png"))], headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["uploads"][0]["id"]


def test_composite_is_listed_with_two_named_inputs_and_its_method(keyed_client):
    client, headers = keyed_client
    tool = client.get("/v1/tools/composite", headers=headers).json()
    assert [(i["name"], i["media"], i["many"]) for i in tool["inputs"]] == [("subject", "image", True),
                                                                          ("background", "image", False)]
    assert [m["name"] for m in tool["models"]] == ["poisson-blend"]
    props = tool["params_schema"]["properties"]
    assert {"x", "y", "scale", "blend", "harmonize", "shadow"} <= set(props)
    assert "composite" in [t["name"] for t in client.get("/v1/tools", headers=headers).json()]


def test_a_job_with_two_named_inputs_makes_one_composite_per_subject(keyed_client):
    client, headers = keyed_client
    subjects = [upload(client, headers, f"cut{i}.png", cutout(c)) for i, c in enumerate([(250, 0, 0), (0, 0, 250)])]
    background = upload(client, headers, "bg.png", BACKGROUND)
    params = {"x": 10, "scale": 2, "shadow": True, "harmonize": 0.2}
    r = client.post("/v1/jobs", headers=headers, json={"tool": "composite", "model": "poisson-blend", "params": params,
                                                       "inputs": {"subject": subjects, "background": [background]}})
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], headers)
    assert done["status"] == "succeeded", done
    assert [it["label"] for it in done["items"]] == ["cut0.png", "cut1.png"]
    for i, item in enumerate(done["items"]):
        result = Image.open(io.BytesIO(client.get(item["result_url"], headers=headers).content))
        assert result.format == "PNG" and result.size == (40, 30)
        expected = composite_image(Image.open(io.BytesIO(cutout([(250, 0, 0), (0, 0, 250)][i]))),
                                   Image.open(io.BytesIO(BACKGROUND)), **params)
        assert np.array_equal(np.asarray(result.convert("RGB")), np.asarray(expected))  # what the library makes


@pytest.mark.parametrize("inputs, field, needle", [
    (lambda s, b: {"subject": [s]}, "inputs", "needs an upload as 'background'"),
    (lambda s, b: {"background": [b]}, "inputs", "needs at least one input image"),
    (lambda s, b: {"subject": [s], "background": [b, b]}, "inputs.background", "takes one upload as 'background'"),
])
def test_missing_inputs_are_refused_by_name(keyed_client, inputs, field, needle):
    client, headers = keyed_client
    s, b = upload(client, headers, "cut.png", cutout((9, 9, 9))), upload(client, headers, "bg.png", BACKGROUND)
    r = client.post("/v1/jobs", headers=headers, json={"tool": "composite", "model": "poisson-blend",
                                                       "inputs": inputs(s, b)})
    assert r.status_code == 422 and r.json()["error"]["field"] == field and needle in r.json()["error"]["message"]


def test_a_bundled_model_is_not_a_composite_model_and_bad_params_name_the_field(keyed_client):
    client, headers = keyed_client
    s, b = upload(client, headers, "cut.png", cutout((9, 9, 9))), upload(client, headers, "bg.png", BACKGROUND)
    body = {"tool": "composite", "inputs": {"subject": [s], "background": [b]}}
    r = client.post("/v1/jobs", headers=headers, json={**body, "model": "photo-upscale-x2"})
    assert r.status_code == 422 and "use one of: poisson-blend" in r.json()["error"]["message"]
    r = client.post("/v1/jobs", headers=headers, json={**body, "model": "poisson-blend", "params": {"harmonize": 2}})
    assert (r.status_code, r.json()["error"]["field"]) == (422, "params.harmonize")


def test_a_subject_without_alpha_fails_its_item_with_the_reason(keyed_client):
    client, headers = keyed_client
    opaque = upload(client, headers, "photo.png", BACKGROUND)
    good = upload(client, headers, "cut.png", cutout((9, 9, 9)))
    b = upload(client, headers, "bg.png", BACKGROUND)
    r = client.post("/v1/jobs", headers=headers, json={"tool": "composite", "model": "poisson-blend",
                                                       "inputs": {"subject": [opaque, good], "background": [b]}})
    done = wait_for(client, r.json()["id"], headers)
    assert done["status"] == "partial", done
    failed, ok = done["items"]
    assert failed["status"] == "failed" and "photo.png has no transparency; accepted" in failed["error"]
    assert ok["status"] == "succeeded"
