"""The studio's settings: where its data lives, its queue and its limits."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MiB = 2**20
# Largest request rate and daily image limit of a key: beyond any use, within SQLite's integers.
MAX_RATE = 10**9
MAX_IMAGES_PER_DAY = 10**9
MAX_OUTPUT_MEGAPIXELS = 10_000.0  # the largest value a result-size cap may take
MAX_JOB_MEMORY_MIB = 1 << 20  # the largest value a job-memory cap may take (1 TiB)


@dataclass(frozen=True)
class StudioSettings:
    data_dir: Path = Path("studio-data")  # studio.sqlite3, uploads/, results/
    queue: str | None = None  # None / "local": worker threads here; "redis://HOST:PORT/DB": Celery
    workers: int = 1  # local worker threads
    stale_seconds: float = 30.0  # a running job without a heartbeat this long is re-queued
    max_upload_bytes: int = 25 * MiB  # per file
    max_upload_pixels: int = 40_000_000  # per image (width x height)
    max_files_per_upload: int = 100
    max_items_per_job: int = 100
    max_body_bytes: int = MiB  # a JSON request body; larger ones get 413 before they are read
    max_output_megapixels: float = 100.0  # one result image (a 24 MP photo upscaled 2x is 96 MP)
    max_images_per_job: int = 10_000  # every image a job makes (the largest generate job is 64 seeds x 100)
    max_job_memory_mib: int = 2048  # one job's estimated peak memory (a 100 MP x4 upscale, tile 512, is about 1,600 MiB)
    session_hours: float = 12.0
    signin_minutes: float = 10.0
    secure_cookies: bool = False  # True behind HTTPS
    events_poll: float = 0.25  # seconds between checks for a job's progress (server-sent events)
