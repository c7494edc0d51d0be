"""The audit tool through the studio's API: three named table inputs, its own method, one JSON result
(not a picture) that equals the library's audit, and a table the tool cannot use failing the item
with the reason."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sklearn")

import ganforge  # noqa: E402

from ..metrics.tables.conftest import mixed_table  # noqa: E402
from .conftest import wait_for  # noqa: E402

REAL, HOLDOUT = mixed_table(150, 1), mixed_table(150, 2)


def upload(client, headers, name: str, text: str) -> str:
    r = client.post("/v1/uploads", files=[("files", (name, text.encode(), "text/csv"))], headers=headers)
    assert r.status_code == 201, r.text
    return r.json()["uploads"][0]["id"]


def test_audit_is_listed_with_three_table_inputs_and_its_method(keyed_client):
    client, headers = keyed_client
    tool = client.get("/v1/tools/audit", headers=headers).json()
    assert [(i["name"], i["media"], i["many"]) for i in tool["inputs"]] == [
        ("real", "table", False), ("synthetic", "table", False), ("holdout", "table", False)]
    assert [m["name"] for m in tool["models"]] == ["table-audit"]
    assert set(tool["params_schema"]["properties"]) == {"target", "seed"}


def test_an_audit_job_gives_the_library_figures_as_json(keyed_client):
    client, headers = keyed_client
    ids = {name: upload(client, headers, f"{name}.csv", t.to_csv(index=False))
           for name, t in (("real", REAL), ("synthetic", REAL), ("holdout", HOLDOUT))}
    r = client.post("/v1/jobs", headers=headers, json={
        "tool": "audit", "model": "table-audit", "params": {"target": "y"},
        "inputs": {name: [i] for name, i in ids.items()}})
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], headers)
    assert done["status"] == "succeeded", done
    (item,) = done["items"]
    assert item["media_type"] == "application/json"
    response = client.get(item["result_url"], headers=headers)
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert doc["exact_copy_rate"] == 1.0 and doc["flags"][0].startswith("exact copies: 100%")
    assert doc["inputs"]["synthetic"]["label"] == "synthetic"  # named by its role, not its stored file
    assert doc["recipe"]["ganforge:tool"] == "audit"
    want = ganforge.audit(REAL, REAL, holdout=HOLDOUT, target="y")
    for k in ("exact_copy_rate", "membership_auc", "tstr", "trtr", "column_similarity", "dcr_train_median"):
        assert doc[k] == pytest.approx(want[k], abs=1e-9), k
    import io
    import zipfile

    zipped = zipfile.ZipFile(io.BytesIO(client.get(done["links"]["zip"], headers=headers).content))
    names = [n for n in zipped.namelist() if n.endswith(".json") and n != "job.json"]
    assert len(names) == 1 and json.loads(zipped.read(names[0]))["exact_copy_rate"] == 1.0


def test_a_bad_target_fails_the_item_with_the_reason_and_a_missing_input_is_refused(keyed_client):
    client, headers = keyed_client
    real = upload(client, headers, "real.csv", REAL.to_csv(index=False))
    hold = upload(client, headers, "holdout.csv", HOLDOUT.to_csv(index=False))
    r = client.post("/v1/jobs", headers=headers, json={
        "tool": "audit", "model": "table-audit", "params": {"target": "nope"},
        "inputs": {"real": [real], "synthetic": [real], "holdout": [hold]}})
    done = wait_for(client, r.json()["id"], headers)
    assert done["status"] == "failed"
    assert "no target column 'nope' in real" in done["items"][0]["error"]
    r = client.post("/v1/jobs", headers=headers, json={"tool": "audit", "model": "table-audit",
                                                       "inputs": {"real": [real], "synthetic": [real]}})
    assert r.status_code == 422 and "needs an upload as 'holdout'" in r.json()["error"]["message"]
