"""The store's typed rows: uploads with a media type and meta, items with named inputs and a result type."""

from __future__ import annotations

import pytest

from ganforge.data.imageio import ALLOWED_FORMATS
from ganforge.studio.store import MEDIA_TYPES, Store


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "studio")


def test_every_accepted_image_format_has_a_media_type():
    assert set(ALLOWED_FORMATS) <= set(MEDIA_TYPES)
    assert all(t.startswith("image/") for t in MEDIA_TYPES.values())


@pytest.mark.parametrize("fmt, media_type", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("MPO", "image/jpeg"),
                                             ("WEBP", "image/webp"), ("GIF", "image/gif")])
def test_upload_media_type_comes_from_its_format(store, fmt, media_type):
    row = store.add_upload("k", filename="a", fmt=fmt, width=3, height=2, data=b"xyz")
    assert (row["media_type"], row["meta"], row["bytes"]) == (media_type, None, 3)
    assert store.upload(row["id"]) == row


def test_upload_with_its_own_media_type_and_meta(store):
    row = store.add_upload("k", filename="t.csv", fmt="CSV", width=0, height=0, data=b"a,b\n1,2\n",
                           media_type="text/csv", meta={"rows": 1, "columns": ["a", "b"]})
    assert store.upload(row["id"])["meta"] == {"rows": 1, "columns": ["a", "b"]}
    assert (row["media_type"], row["width"], row["height"]) == ("text/csv", 0, 0)


def test_upload_of_an_unknown_format_needs_a_media_type(store):
    with pytest.raises(ValueError, match="no media type known for format 'CSV'"):
        store.add_upload("k", filename="t.csv", fmt="CSV", width=0, height=0, data=b"a")
    assert store.query("SELECT COUNT(*) FROM uploads")[0][0] == 0


def test_items_keep_named_inputs(store):
    items = [{"label": "a.png", "seed": None, "upload_id": "u1"},
             {"label": "seed 3", "seed": 3, "upload_id": None},
             {"label": "pair", "seed": None, "upload_id": "u2", "inputs": {"image": "u2", "mask": "u3"}}]
    job_id, _ = store.add_job(key_id="k", tool="t", model="m", params={}, items=items, idempotency=None)
    rows = store.items(job_id)
    assert [r["inputs"] for r in rows] == [{"image": "u1"}, {}, {"image": "u2", "mask": "u3"}]
    assert [r["upload_id"] for r in rows] == ["u1", None, "u2"]
    assert [r["media_type"] for r in rows] == [None, None, None]


def test_item_inputs_must_name_upload_ids(store):
    with pytest.raises(ValueError, match="inputs must map input names to upload ids"):
        store.add_job(key_id="k", tool="t", model="m", params={}, idempotency=None,
                      items=[{"label": "x", "seed": None, "upload_id": None, "inputs": ["u1"]}])
    assert store.query("SELECT COUNT(*) FROM jobs")[0][0] == 0


def test_item_update_sets_the_result_media_type(store):
    job_id, _ = store.add_job(key_id="k", tool="t", model="m", params={}, idempotency=None,
                              items=[{"label": "x", "seed": 1}])
    attempt = store.claim("w")["attempts"]
    assert store.item_update(job_id, attempt, 0, status="succeeded", result="0001-x.csv", media_type="text/csv")
    row = store.items(job_id)[0]
    assert (row["status"], row["result"], row["media_type"]) == ("succeeded", "0001-x.csv", "text/csv")
    with pytest.raises(ValueError, match=r"item fields \['label'\] unknown"):
        store.item_update(job_id, attempt, 0, label="other")
    assert store.items(job_id)[0]["label"] == "x"
