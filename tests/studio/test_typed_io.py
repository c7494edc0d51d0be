"""Typed inputs and results through the studio: tools declare named inputs of a media kind, and
results are bytes with a media type.

A throwaway tool with two named inputs (a table and an image) and CSV results runs end to end:
the upload route checks each kind (CSV tables get the hardening images have: size, rows, columns,
encoding, shape, and nothing is stored when a file is refused), the job names its inputs, the
runner hands the tool both files, and the result route, the zip and the job's JSON carry the
result's media type and suffix.
"""

from __future__ import annotations

import csv
import io
import zipfile

import numpy as np
import pytest
from PIL import Image
from pydantic import Field

from ganforge.schema import StrictModel
from ganforge.service.media import MEDIA, BadUpload, Limits
from ganforge.service.tools import TOOLS, InputSpec, Result, ServiceTool, register_tool

from .conftest import key, make_app, wait_for

LIMITS = Limits(max_bytes=10_000, max_pixels=10_000, max_rows=5, max_columns=3)


# --------------------------------------------------------------------------------- media checks

def test_a_good_table_is_accepted_with_its_shape():
    checked = MEDIA.get("table").check("\ufeffage,ward\n61,B\n47,A\n".encode(), label="t.csv", limits=LIMITS)
    assert (checked.media_type, checked.format, checked.meta) == ("text/csv", "CSV", {"rows": 2, "columns": ["age", "ward"]})


@pytest.mark.parametrize("data, needle, too_large", [
    (b"age,ward\n\xff\xfe,1\n", "not UTF-8 text", False),
    (b"", "an empty table", False),
    (b"age,age\n1,2\n", "every column needs a name of its own", False),
    (b"age,ward\n1\n", "row 1 has 1 fields; the header has 2", False),
    (b"a,b,c,d\n1,2,3,4\n", "4 columns; at most 3", True),
    (b"a\n" + b"1\n" * 6, "more than 5 rows", True),
    (b"a,b\n\"open,1\n", "not a valid CSV table", False),
    (b"a,b\n1,\x00\n", "NUL bytes", False),
    (b"a\n" + b"1" * 10_001, "larger than", True),
])
def test_bad_tables_are_refused_with_the_reason(data, needle, too_large):
    with pytest.raises(BadUpload) as err:
        MEDIA.get("table").check(data, label="t.csv", limits=LIMITS)
    assert needle in err.value.reason and err.value.too_large == too_large


def test_an_image_is_checked_as_before():
    buf = io.BytesIO()
    Image.new("RGB", (20, 10)).save(buf, "PNG")
    checked = MEDIA.get("image").check(buf.getvalue(), label="a.png", limits=LIMITS)
    assert (checked.media_type, checked.width, checked.height) == ("image/png", 20, 10)
    with pytest.raises(BadUpload, match="not an image"):
        MEDIA.get("image").check(b"age,ward\n", label="t.csv", limits=LIMITS)


# ------------------------------------------------------------------------- a tool with two inputs

class TagParams(StrictModel):
    column: str = Field(default="tag", min_length=1, max_length=20, description="the new column's name")


class Tag(ServiceTool):
    """Adds a column to a table: the mean grey level of an image; one item per table."""

    name = "tag-test"
    title = "Tag"
    summary = "a table with an image's mean grey level added"
    inputs = (InputSpec("table", "table", "Tables", many=True), InputSpec("picture", "image", "Picture"))
    Params = TagParams

    def accepts(self, model):
        return model.kind == "generation"

    def run_item(self, pipe, params, item, sources, progress=None):
        level = int(np.asarray(Image.open(sources["picture"]).convert("L")).mean().round())
        rows = list(csv.reader(sources["table"].read_text(encoding="utf-8-sig").splitlines()))
        return [rows[0] + [params.column]] + [row + [str(level)] for row in rows[1:]]

    def encode(self, output, recipe):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(output)
        return Result(buf.getvalue().encode(), "text/csv", ".csv")


@pytest.fixture
def tag_client(monkeypatch, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    monkeypatch.setattr(TOOLS, "_entries", dict(TOOLS._entries))
    register_tool(Tag)
    app = make_app(tmp_path / "studio")
    with TestClient(app) as client:
        yield app, client, key(app)


def upload(client, headers, name: str, data: bytes, media_type: str):
    return client.post("/v1/uploads", files=[("files", (name, data, media_type))], headers=headers)


def png(level: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8, 8), level).save(buf, "PNG")
    return buf.getvalue()


def test_a_tool_with_named_inputs_and_csv_results_runs_end_to_end(tag_client):
    app, client, headers = tag_client
    listed = client.get("/v1/tools/tag-test", headers=headers).json()
    assert [(i["name"], i["media"], i["many"]) for i in listed["inputs"]] == [("table", "table", True),
                                                                           ("picture", "image", False)]
    assert listed["inputs"][0]["media_types"] == ["text/csv"]
    tables = [upload(client, headers, f"ward{i}.csv", f"age,ward\n{60 + i},B\n".encode(), "text/csv").json()
              ["uploads"][0] for i in range(2)]
    assert tables[0]["media_type"] == "text/csv" and tables[0]["meta"] == {"rows": 1, "columns": ["age", "ward"]}
    picture = upload(client, headers, "grey.png", png(77), "image/png").json()["uploads"][0]
    model = listed["models"][0]["name"]
    job = client.post("/v1/jobs", headers=headers, json={
        "tool": "tag-test", "model": model, "params": {"column": "grey"},
        "inputs": {"table": [t["id"] for t in tables], "picture": [picture["id"]]}})
    assert job.status_code == 202, job.text
    done = wait_for(client, job.json()["id"], headers)
    assert done["status"] == "succeeded", done
    assert [it["label"] for it in done["items"]] == ["ward0.csv", "ward1.csv"]  # one item per table
    first = done["items"][0]
    assert first["media_type"] == "text/csv"
    assert first["inputs"] == {"table": f"/v1/uploads/{tables[0]['id']}", "picture": f"/v1/uploads/{picture['id']}"}
    result = client.get(first["result_url"], headers=headers)
    assert result.headers["content-type"].startswith("text/csv")
    assert result.text == "age,ward,grey\n60,B,77\n"
    with zipfile.ZipFile(io.BytesIO(client.get(done["links"]["zip"], headers=headers).content)) as zf:
        names = sorted(zf.namelist())
        assert names == ["0001-ward0.csv", "0002-ward1.csv", "job.json"]
        assert zf.read("0002-ward1.csv") == b"age,ward,grey\n61,B,77\n"
        assert zf.getinfo("0001-ward0.csv").compress_type == zipfile.ZIP_DEFLATED


@pytest.mark.parametrize("inputs, field, needle", [
    (lambda t, p: {"table": [t]}, "inputs", "needs an upload as 'picture'"),
    (lambda t, p: {"table": [t], "picture": [p, p]}, "inputs.picture", "takes one upload as 'picture', got 2"),
    (lambda t, p: {"table": [t], "picture": [p], "mask": [p]}, "inputs.mask", "takes no input 'mask'"),
    (lambda t, p: {"table": [p], "picture": [p]}, "inputs.table[0]", "is image/png; table takes a CSV table"),
    (lambda t, p: {"table": [t], "picture": [t]}, "inputs.picture[0]", "is text/csv; picture takes an image"),
    (lambda t, p: [t], "inputs", "takes named inputs (table, picture)"),
])
def test_inputs_that_do_not_fit_the_declaration_are_refused_by_name(tag_client, inputs, field, needle):
    app, client, headers = tag_client
    table = upload(client, headers, "t.csv", b"a\n1\n", "text/csv").json()["uploads"][0]["id"]
    picture = upload(client, headers, "p.png", png(1), "image/png").json()["uploads"][0]["id"]
    model = client.get("/v1/tools/tag-test", headers=headers).json()["models"][0]["name"]
    r = client.post("/v1/jobs", headers=headers, json={"tool": "tag-test", "model": model,
                                                       "inputs": inputs(table, picture)})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field and needle in r.json()["error"]["message"], r.text
    assert client.get("/v1/jobs", headers=headers).json()["jobs"] == []  # nothing queued


def test_a_refused_table_in_an_upload_stores_nothing(tag_client):
    app, client, headers = tag_client
    store = app.state.store
    before = store.query("SELECT COUNT(*) FROM uploads")[0][0]
    r = client.post("/v1/uploads", headers=headers, files=[
        ("files", ("good.csv", b"a,b\n1,2\n", "text/csv")), ("files", ("latin1.csv", "a\n\xe9\n".encode("latin-1"), "text/csv"))])
    assert r.status_code == 415 and r.json()["error"]["field"] == "files[1]"
    assert "latin1.csv: not UTF-8 text" in r.json()["error"]["message"]
    assert store.query("SELECT COUNT(*) FROM uploads")[0][0] == before
    big = b"a\n" + b"1\n" * 1_000_001
    r = upload(client, headers, "big.csv", big, "text/csv")
    assert r.status_code == 413 and "more than 1000000 rows" in r.json()["error"]["message"]


def test_image_tools_refuse_a_table_as_their_image(tag_client):
    app, client, headers = tag_client
    table = upload(client, headers, "t.csv", b"a\n1\n", "text/csv").json()["uploads"][0]["id"]
    r = client.post("/v1/jobs", headers=headers, json={"tool": "upscale", "model": "photo-upscale-x2",
                                                       "inputs": [table]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "inputs[0]"
    assert "is text/csv; image takes an image" in r.json()["error"]["message"]
