"""The studio's state in one SQLite database (WAL): API keys, sessions, uploads, jobs and their items.

Files live beside it under the data dir: ``uploads/<id>`` (the bytes a client sent, after the
checks of ``uploads.py``) and ``results/<job>/<file>`` (written atomically). Every name on disk
is made here from ids, never from a request.

Jobs are the queue: a worker claims the oldest queued job in one transaction, so queued jobs
survive a restart, and a running job whose worker stopped sending heartbeats is re-queued (or
failed once it has been tried ``MAX_ATTEMPTS`` times) by :meth:`Store.requeue_stale`.

The schema has a version (``PRAGMA user_version``) and :data:`MIGRATIONS` lead from each version
to the next, so a data dir made by one release opens in the next: opening a store runs the
missing ones, each in its own transaction. A database newer than :data:`SCHEMA_VERSION` is
refused and left as it is.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import GanforgeError

MAX_ATTEMPTS = 3
FINISHED = ("succeeded", "partial", "failed", "cancelled")
ITEM_FIELDS = frozenset({"status", "done", "total", "result", "media_type", "error"})  # what item_update may set

# Version 1: the schema of the releases before versions (their databases say user_version 0).
# Frozen: a change is a new migration, never an edit here.
SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
    admin INTEGER NOT NULL, rate_count INTEGER NOT NULL, rate_seconds INTEGER NOT NULL,
    images_per_day INTEGER, created REAL NOT NULL, revoked REAL);
CREATE TABLE IF NOT EXISTS sessions (
    hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS signin_tokens (
    hash TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rate (
    key_id TEXT NOT NULL, window INTEGER NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (key_id, window));
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, key_id TEXT NOT NULL, filename TEXT NOT NULL, format TEXT NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, bytes INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, key_id TEXT NOT NULL,
    tool TEXT NOT NULL, model TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    created REAL NOT NULL, started REAL, finished REAL, heartbeat REAL, error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0, cancel INTEGER NOT NULL DEFAULT 0, idempotency TEXT,
    n_items INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (key_id, idempotency));
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs (key_id, seq);
CREATE TABLE IF NOT EXISTS items (
    job_id TEXT NOT NULL, idx INTEGER NOT NULL, label TEXT NOT NULL, upload_id TEXT, seed INTEGER,
    status TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, total INTEGER NOT NULL DEFAULT 0,
    result TEXT, error TEXT, PRIMARY KEY (job_id, idx));
"""

# A stored upload's format (Pillow's name, see ``data/imageio.py``) -> its media type. Camera
# JPEGs open as "MPO".
MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg", "WEBP": "image/webp",
               "BMP": "image/bmp", "TIFF": "image/tiff", "GIF": "image/gif", "PPM": "image/x-portable-pixmap"}


class StoreError(GanforgeError):
    """A data dir this ganforge cannot use (its database is newer than the code)."""


def _create_v1(db: sqlite3.Connection) -> None:
    # executescript would commit the migration's transaction: run the statements one by one.
    for statement in SCHEMA_V1.split(";"):
        if statement.strip():
            db.execute(statement)


def _typed_inputs(db: sqlite3.Connection) -> None:
    """Uploads get a media type and JSON meta; items get named inputs and their result's media type."""
    db.execute("ALTER TABLE uploads ADD COLUMN media_type TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE uploads ADD COLUMN meta TEXT")
    db.executemany("UPDATE uploads SET media_type = ? WHERE format = ?", [(t, f) for f, t in MEDIA_TYPES.items()])
    db.execute("ALTER TABLE items ADD COLUMN inputs TEXT")
    db.execute("ALTER TABLE items ADD COLUMN media_type TEXT")
    rows = db.execute("SELECT job_id, idx, upload_id FROM items WHERE upload_id IS NOT NULL").fetchall()
    db.executemany("UPDATE items SET inputs = ? WHERE job_id = ? AND idx = ?",
                   [(json.dumps({"image": r[2]}), r[0], r[1]) for r in rows])
    db.execute("UPDATE items SET media_type = 'image/png' WHERE result IS NOT NULL")  # every result so far is a PNG


# MIGRATIONS[v] takes a database from version v to v + 1. Append only; never edit a released one.
def _images_per_item(db: sqlite3.Connection) -> None:
    """Items say how many images they make (a grid of 16 is 16), so the daily quota counts images;
    an item made before this counted as one."""
    db.execute("ALTER TABLE items ADD COLUMN images INTEGER NOT NULL DEFAULT 1")


def _key_limits(db: sqlite3.Connection) -> None:
    """Keys may have their own cost limits, below the server's (NULL: the server's apply)."""
    db.execute("ALTER TABLE keys ADD COLUMN max_output_megapixels REAL")
    db.execute("ALTER TABLE keys ADD COLUMN max_job_memory_mib INTEGER")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1, _typed_inputs, _images_per_item, _key_limits]
SCHEMA_VERSION = len(MIGRATIONS)


def _user_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def _refuse_newer(version: int, path: Path) -> None:
    if version > len(MIGRATIONS):
        raise StoreError(f"{path} has studio schema version {version}; this ganforge reads versions up to "
                         f"{len(MIGRATIONS)}: upgrade ganforge or use another --data-dir")


def migrate(path: str | Path) -> None:
    """Bring the database at ``path`` (made if missing) to :data:`SCHEMA_VERSION`.

    Each migration runs in its own BEGIN IMMEDIATE transaction that first re-reads the version,
    so two processes opening a new data dir at once migrate it once: the second waits, then
    finds nothing left to do. A failing migration rolls back to the version before it.

    Raises:
        StoreError: the database is newer than this code (nothing in it is changed).
    """
    path = Path(path)
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=30000")
        version = _user_version(db)
        _refuse_newer(version, path)  # before anything (even the journal mode) is written
        if version == len(MIGRATIONS):
            return
        _wal(db)
        while True:
            db.execute("BEGIN IMMEDIATE")
            try:
                version = _user_version(db)
                _refuse_newer(version, path)
                if version == 0 and db.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs'").fetchone():
                    version = 1  # tables without a version: made by a release before versions, i.e. version 1
                elif version == len(MIGRATIONS):
                    db.execute("ROLLBACK")
                    return
                else:
                    MIGRATIONS[version](db)
                    version += 1
                db.execute(f"PRAGMA user_version = {version:d}")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
    finally:
        db.close()


def _wal(db: sqlite3.Connection, wait: float = 30.0) -> None:
    """Switch to WAL. The switch needs the database to itself and SQLite does not wait for that
    (no busy handler), so while another opener holds it (migrating a new data dir) try again."""
    deadline = time.monotonic() + wait
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _inputs(item: dict[str, Any]) -> dict[str, str]:
    inputs = item.get("inputs")
    if inputs is None:
        return {"image": item["upload_id"]} if item.get("upload_id") else {}
    if not (isinstance(inputs, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items())):
        raise ValueError(f"an item's inputs must map input names to upload ids, got {inputs!r}")
    return inputs


def new_id() -> str:
    return secrets.token_hex(12)


def now() -> float:
    return time.time()


@dataclass
class Key:
    id: str
    name: str
    prefix: str
    admin: bool
    rate_count: int
    rate_seconds: int
    images_per_day: int | None
    created: float
    revoked: float | None
    max_output_megapixels: float | None = None  # this key's own caps (None: the server's)
    max_job_memory_mib: int | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "prefix": self.prefix, "admin": self.admin,
                "rate": f"{self.rate_count}/{_per(self.rate_seconds)}", "images_per_day": self.images_per_day,
                "max_output_megapixels": self.max_output_megapixels, "max_job_memory_mib": self.max_job_memory_mib,
                "created": self.created, "revoked": self.revoked}


def _per(seconds: int) -> str:
    return {1: "s", 60: "min", 3600: "h", 86400: "day"}.get(seconds, f"{seconds}s")


class Store:
    """Thread-safe access to the database (one connection per thread) and the data dir's files."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / "studio.sqlite3"
        migrate(self.path)
        (self.data_dir / "uploads").mkdir(exist_ok=True)
        (self.data_dir / "results").mkdir(exist_ok=True)
        self._local = threading.local()

    # Connections and transactions ------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: writers queue instead of failing)."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, args).fetchall()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # Keys, sessions and sign-in tokens -------------------------------------------------------

    def add_key(self, *, name: str, key_hash: str, prefix: str, admin: bool, rate_count: int, rate_seconds: int,
                images_per_day: int | None, max_output_megapixels: float | None = None,
                max_job_memory_mib: int | None = None) -> Key:
        key_id = new_id()
        with self.tx() as db:
            if db.execute("SELECT 1 FROM keys WHERE name = ?", (name,)).fetchone():
                raise KeyError(name)
            db.execute("INSERT INTO keys (id, name, hash, prefix, admin, rate_count, rate_seconds, images_per_day, "
                       "created, revoked, max_output_megapixels, max_job_memory_mib) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)",
                       (key_id, name, key_hash, prefix, int(admin), rate_count, rate_seconds, images_per_day, now(),
                        max_output_megapixels, max_job_memory_mib))
        return self.key(key_id)

    @staticmethod
    def _key(row: sqlite3.Row | None) -> Key | None:
        if row is None:
            return None
        return Key(id=row["id"], name=row["name"], prefix=row["prefix"], admin=bool(row["admin"]),
                   rate_count=row["rate_count"], rate_seconds=row["rate_seconds"],
                   images_per_day=row["images_per_day"], created=row["created"], revoked=row["revoked"],
                   max_output_megapixels=row["max_output_megapixels"], max_job_memory_mib=row["max_job_memory_mib"])

    def key(self, key_id: str) -> Key | None:
        return self._key(next(iter(self.query("SELECT * FROM keys WHERE id = ?", (key_id,))), None))

    def key_by_name(self, name: str) -> Key | None:
        return self._key(next(iter(self.query("SELECT * FROM keys WHERE name = ?", (name,))), None))

    def key_hashes(self, prefix: str) -> list[tuple[str, str]]:
        """(id, hash) of the live keys with this public prefix (the caller compares in constant time)."""
        return [(r["id"], r["hash"]) for r in
                self.query("SELECT id, hash FROM keys WHERE prefix = ? AND revoked IS NULL", (prefix,))]

    def keys(self) -> list[Key]:
        return [self._key(r) for r in self.query("SELECT * FROM keys ORDER BY created")]

    def revoke_key(self, name: str) -> bool:
        with self.tx() as db:
            row = db.execute("SELECT id FROM keys WHERE name = ? AND revoked IS NULL", (name,)).fetchone()
            if row is None:
                return False
            db.execute("UPDATE keys SET revoked = ? WHERE id = ?", (now(), row["id"]))
            db.execute("DELETE FROM sessions WHERE key_id = ?", (row["id"],))
            db.execute("DELETE FROM signin_tokens WHERE key_id = ?", (row["id"],))
        return True

    def add_signin_token(self, token_hash: str, key_id: str, ttl: float) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM signin_tokens WHERE expires < ?", (now(),))
            db.execute("INSERT INTO signin_tokens VALUES (?, ?, ?)", (token_hash, key_id, now() + ttl))

    def use_signin_token(self, token_hash: str) -> str | None:
        """The key id of a valid token, which is deleted (one use); None if unknown or expired."""
        with self.tx() as db:
            row = db.execute("SELECT key_id, expires FROM signin_tokens WHERE hash = ?", (token_hash,)).fetchone()
            db.execute("DELETE FROM signin_tokens WHERE hash = ?", (token_hash,))
        if row is None or row["expires"] < now():
            return None
        return row["key_id"]

    def add_session(self, session_hash: str, key_id: str, csrf: str, ttl: float) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (now(),))
            db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?)", (session_hash, key_id, csrf, now() + ttl))

    def session(self, session_hash: str) -> tuple[str, str] | None:
        """(key id, csrf token) of a live session."""
        rows = self.query("SELECT key_id, csrf FROM sessions WHERE hash = ? AND expires > ?", (session_hash, now()))
        return (rows[0]["key_id"], rows[0]["csrf"]) if rows else None

    def end_session(self, session_hash: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM sessions WHERE hash = ?", (session_hash,))

    # Usage -----------------------------------------------------------------------------------

    def count_request(self, key_id: str, window_seconds: int, at: float | None = None) -> tuple[int, float]:
        """Count one request in the key's current fixed window: (requests in it, seconds until it ends)."""
        at = now() if at is None else at
        window = int(at // window_seconds)
        with self.tx() as db:
            db.execute("DELETE FROM rate WHERE key_id = ? AND window < ?", (key_id, window))
            db.execute("INSERT INTO rate VALUES (?, ?, 1) ON CONFLICT (key_id, window) DO UPDATE SET count = count + 1",
                       (key_id, window))
            count = db.execute("SELECT count FROM rate WHERE key_id = ? AND window = ?", (key_id, window)).fetchone()[0]
        return count, (window + 1) * window_seconds - at

    def requests_in_window(self, key_id: str, window_seconds: int) -> int:
        rows = self.query("SELECT count FROM rate WHERE key_id = ? AND window = ?", (key_id, int(now() // window_seconds)))
        return rows[0]["count"] if rows else 0

    def images_since(self, key_id: str, since: float) -> int:
        """Images asked for by the key's jobs created since ``since`` (each item's ``images``: a grid
        counts every picture in it), cancelled jobs' unrun items excluded."""
        row = self.query("SELECT COALESCE(SUM(items.images), 0) FROM items JOIN jobs ON jobs.id = items.job_id "
                         "WHERE jobs.key_id = ? AND jobs.created >= ? AND items.status != 'cancelled'", (key_id, since))
        return int(row[0][0])

    # Uploads ---------------------------------------------------------------------------------

    def upload_path(self, upload_id: str) -> Path:
        if not (len(upload_id) == 24 and all(c in "0123456789abcdef" for c in upload_id)):
            raise ValueError("not an upload id")
        return self.data_dir / "uploads" / upload_id

    def add_upload(self, key_id: str, *, filename: str, fmt: str, width: int, height: int, data: bytes,
                   media_type: str | None = None, meta: dict[str, Any] | None = None) -> dict:
        """Store an upload's bytes and row; the row as :meth:`upload` gives it.

        ``fmt`` is the parser's format name ("PNG", "CSV", ...), ``width`` / ``height`` are 0 for
        what is not an image, ``media_type`` defaults to the image format's (:data:`MEDIA_TYPES`),
        ``meta`` is JSON facts about the content (a table's ``{"rows": .., "columns": ..}``).
        """
        from ..fileio import atomic_write_bytes

        if media_type is None:
            if fmt not in MEDIA_TYPES:
                raise ValueError(f"no media type known for format {fmt!r}; pass media_type")
            media_type = MEDIA_TYPES[fmt]
        upload_id = new_id()
        atomic_write_bytes(self.upload_path(upload_id), data)
        with self.tx() as db:
            db.execute("INSERT INTO uploads (id, key_id, filename, format, width, height, bytes, created, media_type, "
                       "meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (upload_id, key_id, filename, fmt, width, height, len(data), now(), media_type,
                        None if meta is None else json.dumps(meta)))
        return self.upload(upload_id)

    def upload(self, upload_id: str) -> dict | None:
        """The upload's row (``meta`` parsed: a dict or None), or None."""
        rows = self.query("SELECT * FROM uploads WHERE id = ?", (upload_id,))
        if not rows:
            return None
        row = dict(rows[0])
        row["meta"] = None if row["meta"] is None else json.loads(row["meta"])
        return row

    # Jobs ------------------------------------------------------------------------------------

    def add_job(self, *, key_id: str, tool: str, model: str, params: dict, items: list[dict],
                idempotency: str | None) -> tuple[str, bool]:
        """Queue a job with its items; (job id, created). With an idempotency key the caller used
        before, the earlier job's id and False.

        ``items``: dicts with ``label``, ``seed`` (or None), ``upload_id`` (the item's own input, or
        None) and ``inputs`` ({input name: upload id}; default ``{"image": upload_id}`` when the
        item has an upload, else ``{}``).
        """
        job_id = new_id()
        with self.tx() as db:
            if idempotency is not None:
                row = db.execute("SELECT id FROM jobs WHERE key_id = ? AND idempotency = ?",
                                 (key_id, idempotency)).fetchone()
                if row is not None:
                    return row["id"], False
            db.execute("INSERT INTO jobs (id, key_id, tool, model, params, status, created, idempotency, n_items) "
                       "VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                       (job_id, key_id, tool, model, json.dumps(params), now(), idempotency, len(items)))
            db.executemany("INSERT INTO items (job_id, idx, label, upload_id, seed, inputs, images, status) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')",
                           [(job_id, i, it["label"], it.get("upload_id"), it.get("seed"), json.dumps(_inputs(it)),
                             int(it.get("images", 1))) for i, it in enumerate(items)])
        return job_id, True

    def job(self, job_id: str) -> dict | None:
        rows = self.query("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return dict(rows[0]) if rows else None

    def items(self, job_id: str) -> list[dict]:
        """The job's item rows in order, ``inputs`` parsed ({input name: upload id})."""
        rows = [dict(r) for r in self.query("SELECT * FROM items WHERE job_id = ? ORDER BY idx", (job_id,))]
        for row in rows:
            row["inputs"] = {} if row["inputs"] is None else json.loads(row["inputs"])
        return rows

    def jobs(self, key_id: str | None, *, limit: int = 50, before: int | None = None,
             status: str | None = None) -> list[dict]:
        sql, args = "SELECT * FROM jobs WHERE 1=1", []
        if key_id is not None:
            sql, args = sql + " AND key_id = ?", args + [key_id]
        if before is not None:
            sql, args = sql + " AND seq < ?", args + [before]
        if status is not None:
            sql, args = sql + " AND status = ?", args + [status]
        return [dict(r) for r in self.query(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit))]

    def claim(self, worker: str) -> dict | None:
        """The oldest queued job, now running (attempts + 1), or None."""
        with self.tx() as db:
            row = db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            t = now()
            db.execute("UPDATE jobs SET status = 'running', started = COALESCE(started, ?), heartbeat = ?, "
                       "attempts = attempts + 1, version = version + 1 WHERE id = ?", (t, t, row["id"]))
            db.execute("UPDATE items SET status = 'queued', done = 0 WHERE job_id = ? AND status = 'running'", (row["id"],))
        return self.job(row["id"])

    def heartbeat(self, job_ids: list[str]) -> None:
        if job_ids:
            with self.tx() as db:
                db.executemany("UPDATE jobs SET heartbeat = ? WHERE id = ? AND status = 'running'",
                               [(now(), j) for j in job_ids])

    def requeue_stale(self, stale_seconds: float) -> list[str]:
        """Running jobs without a heartbeat for ``stale_seconds`` (their worker died): queued
        again, or failed with the reason after ``MAX_ATTEMPTS`` tries. Returns their ids."""
        cutoff = now() - stale_seconds
        with self.tx() as db:
            rows = db.execute("SELECT id, attempts, cancel FROM jobs WHERE status = 'running' AND heartbeat < ?",
                              (cutoff,)).fetchall()
            for r in rows:
                if r["cancel"]:
                    self._finish(db, r["id"], "cancelled", None)
                elif r["attempts"] >= MAX_ATTEMPTS:
                    self._finish(db, r["id"], "failed", f"its worker stopped {r['attempts']} times while running it "
                                                        f"(no heartbeat for {stale_seconds:.0f} s)")
                else:
                    db.execute("UPDATE jobs SET status = 'queued', version = version + 1 WHERE id = ?", (r["id"],))
                    db.execute("UPDATE items SET status = 'queued', done = 0 WHERE job_id = ? AND status = 'running'",
                               (r["id"],))
        return [r["id"] for r in rows]

    def request_cancel(self, job_id: str) -> str:
        """Cancel a job: a queued one at once, a running one when its worker next looks.
        Returns the job's status afterwards."""
        with self.tx() as db:
            row = db.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row["status"] == "queued":
                self._finish(db, job_id, "cancelled", None)
                return "cancelled"
            if row["status"] == "running":
                db.execute("UPDATE jobs SET cancel = 1, version = version + 1 WHERE id = ?", (job_id,))
            return row["status"]

    def cancel_requested(self, job_id: str) -> bool:
        rows = self.query("SELECT cancel, status FROM jobs WHERE id = ?", (job_id,))
        return bool(rows) and (bool(rows[0]["cancel"]) or rows[0]["status"] != "running")

    def is_current(self, job_id: str, attempt: int) -> bool:
        """Whether ``attempt`` is the job's running attempt (a re-queued job's old worker is not)."""
        rows = self.query("SELECT status, attempts FROM jobs WHERE id = ?", (job_id,))
        return bool(rows) and rows[0]["status"] == "running" and rows[0]["attempts"] == attempt

    def item_update(self, job_id: str, attempt: int, idx: int, **fields: Any) -> bool:
        """Set an item's fields (:data:`ITEM_FIELDS`) if ``attempt`` is current."""
        if not set(fields) <= ITEM_FIELDS:
            raise ValueError(f"item fields {sorted(set(fields) - ITEM_FIELDS)} unknown; use {sorted(ITEM_FIELDS)}")
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            ok = db.execute("SELECT 1 FROM jobs WHERE id = ? AND status = 'running' AND attempts = ?",
                            (job_id, attempt)).fetchone()
            if not ok:
                return False
            db.execute(f"UPDATE items SET {cols} WHERE job_id = ? AND idx = ?", (*fields.values(), job_id, idx))
            db.execute("UPDATE jobs SET version = version + 1, heartbeat = ? WHERE id = ?", (now(), job_id))
        return True

    def finish(self, job_id: str, attempt: int, error: str | None = None) -> str | None:
        """End a running attempt: the job's final status from its items (or ``error``)."""
        with self.tx() as db:
            row = db.execute("SELECT cancel FROM jobs WHERE id = ? AND status = 'running' AND attempts = ?",
                             (job_id, attempt)).fetchone()
            if row is None:
                return None
            counts = {r["status"]: r["n"] for r in db.execute(
                "SELECT status, COUNT(*) AS n FROM items WHERE job_id = ? GROUP BY status", (job_id,))}
            if row["cancel"]:
                status = "cancelled"
            elif error is not None or not counts.get("succeeded"):
                status = "failed"
            elif counts.get("succeeded") == sum(counts.values()):
                status = "succeeded"
            else:
                status = "partial"
            if status == "failed" and error is None:
                error = "no item succeeded"
            self._finish(db, job_id, status, error)
        return status

    @staticmethod
    def _finish(db: sqlite3.Connection, job_id: str, status: str, error: str | None) -> None:
        db.execute("UPDATE jobs SET status = ?, error = ?, finished = ?, version = version + 1 WHERE id = ?",
                   (status, error, now(), job_id))
        unrun = "cancelled" if status == "cancelled" else "failed"
        db.execute("UPDATE items SET status = ?, error = COALESCE(error, ?) WHERE job_id = ? AND status IN "
                   "('queued', 'running')", (unrun, "cancelled" if unrun == "cancelled" else error, job_id))

    def result_dir(self, job_id: str) -> Path:
        return self.data_dir / "results" / job_id
