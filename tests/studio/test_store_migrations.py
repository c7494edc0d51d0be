"""Schema versions of the studio's store: a data dir of an older release opens with nothing lost.

``fixtures/datadir-v1`` was written by the store of 4c77220, a release before schema versions
(``fixtures/make_datadir_v1.py``); ``fixtures/datadir-v1.json`` is what that store returned.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from ganforge.studio import store as store_module
from ganforge.studio.auth import digest
from ganforge.studio.store import SCHEMA_VERSION, Store, StoreError

from .conftest import make_app

FIXTURES = Path(__file__).with_name("fixtures")
V1 = FIXTURES / "datadir-v1"
TABLES = ("keys", "sessions", "signin_tokens", "rate", "uploads", "jobs", "items")


@pytest.fixture
def manifest() -> dict:
    return json.loads((FIXTURES / "datadir-v1.json").read_text())


@pytest.fixture
def v1_dir(tmp_path) -> Path:
    """A copy of the old release's data dir."""
    return Path(shutil.copytree(V1, tmp_path / "studio"))


def connect(data_dir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(data_dir / "studio.sqlite3", isolation_level=None)
    db.row_factory = sqlite3.Row
    return db


def user_version(data_dir: Path) -> int:
    db = connect(data_dir)
    try:
        return db.execute("PRAGMA user_version").fetchone()[0]
    finally:
        db.close()


def dump(data_dir: Path) -> dict[str, list[dict]]:
    """Every row of every table, in rowid order."""
    db = connect(data_dir)
    try:
        return {t: [dict(r) for r in db.execute(f"SELECT * FROM {t} ORDER BY rowid")] for t in TABLES}
    finally:
        db.close()


def schema(data_dir: Path) -> list[tuple]:
    db = connect(data_dir)
    try:
        return [tuple(r) for r in db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")]
    finally:
        db.close()


def test_fixture_is_an_unversioned_old_data_dir(manifest):
    assert manifest["made_by"].startswith("4c77220")
    assert user_version(V1) == 0
    assert {r[1] for r in schema(V1)} >= set(TABLES)
    assert sum(f.stat().st_size for f in V1.rglob("*") if f.is_file()) < 200_000


def test_v1_rows_are_kept_and_new_columns_backfilled(v1_dir, manifest):
    before = dump(v1_dir)
    store = Store(v1_dir)
    assert user_version(v1_dir) == SCHEMA_VERSION == 4
    after = dump(v1_dir)
    for table in TABLES:  # every old row, every old column, the same value
        assert [{k: r[k] for k in old} for r, old in zip(after[table], before[table])] == before[table], table
        assert len(after[table]) == len(before[table]) > 0, table

    # Keys, through the store, as the old store returned them.
    keys = {k.name: k for k in store.keys()}
    assert len(keys) == len(manifest["keys"]) == 3
    for old in manifest["keys"]:
        key = keys[old["name"]]
        # keys made before per-key limits have none (the server's limits apply)
        assert {**vars(key), "hash": old["hash"]} == {**old, "max_output_megapixels": None, "max_job_memory_mib": None}
        assert store.query("SELECT hash FROM keys WHERE id = ?", (key.id,))[0]["hash"] == old["hash"]
    assert keys["studio-owner"].admin and not keys["alice"].admin
    assert keys["mallory"].revoked is not None and keys["alice"].revoked is None
    assert store.session(digest("fixture-session")) == (keys["studio-owner"].id, "fixture-csrf")
    assert store.use_signin_token(digest("fixture-signin")) == keys["studio-owner"].id

    # Uploads: the old row plus its media type (meta NULL), and the bytes on disk.
    formats = {}
    for old in manifest["uploads"]:
        row = store.upload(old["id"])
        assert row == {**old, "media_type": {"PNG": "image/png", "JPEG": "image/jpeg"}[old["format"]], "meta": None}
        data = store.upload_path(old["id"]).read_bytes()
        assert len(data) == old["bytes"]
        with Image.open(io.BytesIO(data)) as img:
            assert (img.format, img.size) == (old["format"], (old["width"], old["height"]))
        formats[img.format] = row["media_type"]
    assert formats == {"PNG": "image/png", "JPEG": "image/jpeg"}

    # Jobs and items: the old rows, inputs {"image": upload} where an item had one, results typed.
    statuses = set()
    for job_id, old_job in manifest["job_rows"].items():
        assert store.job(job_id) == old_job
        statuses.add(old_job["status"])
        items = store.items(job_id)
        assert len(items) == len(manifest["items"][job_id]) == old_job["n_items"]
        for item, old in zip(items, manifest["items"][job_id]):
            assert {k: item[k] for k in old} == old
            assert item["inputs"] == ({"image": old["upload_id"]} if old["upload_id"] else {})
            assert item["media_type"] == ("image/png" if old["result"] else None)
            if old["result"]:
                with Image.open(store.result_dir(job_id) / old["result"]) as img:
                    assert img.format == "PNG"
    assert statuses == {"succeeded", "partial", "failed", "cancelled", "queued"}


def test_migrated_store_takes_new_typed_rows(v1_dir, manifest):
    store = Store(v1_dir)
    alice = store.key_by_name("alice")
    table = store.add_upload(alice.id, filename="t.csv", fmt="CSV", width=0, height=0, data=b"a,b\n1,2\n",
                             media_type="text/csv", meta={"rows": 1, "columns": 2})
    assert (table["media_type"], table["meta"], table["width"]) == ("text/csv", {"rows": 1, "columns": 2}, 0)
    photo = manifest["uploads"][0]["id"]
    job_id, created = store.add_job(key_id=alice.id, tool="t", model="m", params={}, idempotency=None,
                                    items=[{"label": "x", "seed": None, "upload_id": photo,
                                            "inputs": {"image": photo, "table": table["id"]}}])
    assert created and store.items(job_id)[0]["inputs"] == {"image": photo, "table": table["id"]}
    # The old release's queued job is still first in line.
    assert store.claim("w")["id"] == manifest["jobs"]["queued"]


def test_app_serves_the_old_job_and_result(v1_dir, manifest):
    app = make_app(v1_dir)
    client = TestClient(app)  # no lifespan: no worker takes the old queued job
    alice = {"Authorization": f"Bearer {manifest['secrets']['alice']}"}
    job_id = manifest["jobs"]["succeeded"]
    response = client.get(f"/v1/jobs/{job_id}", headers=alice)
    assert response.status_code == 200, response.text
    job = response.json()
    old = manifest["job_rows"][job_id]
    assert (job["status"], job["tool"], job["model"], job["params"]) == (
        "succeeded", old["tool"], old["model"], json.loads(old["params"]))
    assert [(it["label"], it["seed"]) for it in job["items"]] == [
        (it["label"], it["seed"]) for it in manifest["items"][job_id]]
    result = client.get(job["items"][1]["result_url"], headers=alice)
    assert result.status_code == 200 and result.headers["content-type"] == "image/png"
    assert result.content == (v1_dir / "results" / job_id / manifest["items"][job_id][1]["result"]).read_bytes()

    partial = client.get(f"/v1/jobs/{manifest['jobs']['partial']}", headers=alice).json()
    assert partial["status"] == "partial" and partial["items"][1]["error"] == "dog.jpg: out of memory"
    upload = client.get(partial["items"][1]["input_url"], headers=alice)
    assert upload.status_code == 200 and upload.headers["content-type"] == "image/jpeg"
    assert upload.content == (v1_dir / "uploads" / manifest["uploads"][1]["id"]).read_bytes()
    revoked = client.get(f"/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {manifest['secrets']['mallory']}"})
    assert revoked.status_code == 401


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_newer_database_is_refused_unchanged(tmp_path, journal):
    data_dir = tmp_path / "studio"
    Store(data_dir).close()
    db = connect(data_dir)
    db.execute(f"PRAGMA journal_mode={journal}")  # a later release might leave WAL: refusing must not set it
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    path = data_dir / "studio.sqlite3"
    before = path.read_bytes()
    with pytest.raises(StoreError) as err:
        Store(data_dir)
    message = str(err.value)
    assert "\n" not in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message and f"versions up to {SCHEMA_VERSION}" in message
    assert path.read_bytes() == before
    assert sorted(p.name for p in data_dir.iterdir()) == ["results", "studio.sqlite3", "uploads"]


def test_fresh_data_dir_gets_the_latest_schema_and_reopens(tmp_path, v1_dir):
    data_dir = tmp_path / "fresh"
    store = Store(data_dir)
    assert user_version(data_dir) == SCHEMA_VERSION
    first = schema(data_dir)
    upload = store.add_upload("k", filename="a.png", fmt="PNG", width=1, height=1, data=b"x")
    store.close()
    again = Store(data_dir)
    assert user_version(data_dir) == SCHEMA_VERSION and schema(data_dir) == first
    assert again.upload(upload["id"]) == upload
    Store(v1_dir)  # an old data dir, migrated, has the very schema a new one gets
    assert schema(v1_dir) == first


def test_version_1_is_the_old_releases_schema(tmp_path, monkeypatch):
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    Store(tmp_path / "v1")
    assert user_version(tmp_path / "v1") == 1
    assert schema(tmp_path / "v1") == schema(V1)


def test_failing_migration_leaves_the_previous_version(v1_dir, monkeypatch):
    before = dump(v1_dir)

    def half_of_migration_2(db):
        store_module._typed_inputs(db)  # its changes are made, then it fails
        raise RuntimeError("planted failure")

    monkeypatch.setattr(store_module, "MIGRATIONS", [store_module.MIGRATIONS[0], half_of_migration_2])
    with pytest.raises(RuntimeError, match="planted failure"):
        Store(v1_dir)
    assert user_version(v1_dir) == 1  # the old data dir was stamped version 1, migration 2 rolled back
    assert schema(v1_dir) == schema(V1)
    assert dump(v1_dir) == before
    monkeypatch.undo()
    Store(v1_dir)
    assert user_version(v1_dir) == SCHEMA_VERSION


def test_two_openers_of_a_new_data_dir_migrate_it_once(tmp_path, monkeypatch):
    runs = []

    def slow(migration):
        def run(db):
            runs.append(migration.__name__)
            time.sleep(0.2)  # the other opener arrives while this migration holds the write lock
            migration(db)
        return run

    monkeypatch.setattr(store_module, "MIGRATIONS", [slow(m) for m in store_module.MIGRATIONS])
    data_dir = tmp_path / "studio"
    start, errors = threading.Barrier(2), []

    def open_store():
        start.wait()
        try:
            Store(data_dir).close()
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert runs == ["_create_v1", "_typed_inputs", "_images_per_item", "_key_limits"]  # each once, though both openers found a new file
    assert user_version(data_dir) == SCHEMA_VERSION
