"""The API's request and response bodies: the contract the OpenAPI page documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .settings import MAX_IMAGES_PER_DAY, MAX_JOB_MEMORY_MIB, MAX_OUTPUT_MEGAPIXELS

JobStatus = Literal["queued", "running", "succeeded", "partial", "failed", "cancelled"]
ItemStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    queue: dict[str, Any]


class ModelOut(BaseModel):
    name: str
    summary: str
    kind: str
    details: dict[str, Any]  # classes, scale, parameters, measured metrics, ...


class InputOut(BaseModel):
    name: str  # the key of the job's `inputs`
    title: str
    media: str  # the kind of upload: "image" or "table"
    media_types: list[str]  # what an upload for it may be (its `accept`)
    many: bool  # True: several uploads, one item each (a batch); False: exactly one, shared by every item
    description: str


class ToolOut(BaseModel):
    name: str
    title: str
    summary: str
    takes_images: bool  # True: the job's items are uploads (one per file of its `many` input); False: seeds
    inputs: list[InputOut]  # the named uploads a job of this tool takes
    models: list[ModelOut]
    params_schema: dict[str, Any]  # JSON schema of `params`


class UploadOut(BaseModel):
    id: str
    filename: str
    format: str
    media_type: str  # image/png, text/csv, ...
    width: int  # 0 for tables
    height: int
    bytes: int
    meta: dict[str, Any] | None = None  # tables: {"rows", "columns"}
    url: str


class UploadsOut(BaseModel):
    uploads: list[UploadOut]


class Progress(BaseModel):
    done: int
    total: int


class ItemOut(BaseModel):
    index: int
    label: str
    status: ItemStatus
    progress: Progress  # work units within the item (tiles of a photo)
    error: str | None
    seed: int | None
    input_url: str | None  # the item's own upload (its file of the batch input)
    inputs: dict[str, str]  # every upload the item uses, by input name: their URLs
    result_url: str | None
    media_type: str | None  # the result's


class JobProgress(BaseModel):
    items_done: int  # items finished (succeeded, failed or cancelled)
    items_total: int
    fraction: float  # 0..1, counting the running items' partial progress


class JobLinks(BaseModel):
    self: str
    events: str
    zip: str


class JobOut(BaseModel):
    id: str
    tool: str
    model: str
    params: dict[str, Any]
    status: JobStatus
    created: float
    started: float | None
    finished: float | None
    error: str | None
    attempts: int
    progress: JobProgress
    items: list[ItemOut]
    links: JobLinks


class JobList(BaseModel):
    jobs: list[JobOut]
    next_before: int | None  # pass as ?before= for the next (older) page


class Limit(BaseModel):
    limit: int | None  # None: unlimited
    used: int
    window_seconds: int
    resets_at: float


class JobLimits(BaseModel):
    """What one job of this key may cost (the server's limits, lowered by the key's own)."""

    max_output_megapixels: float  # the largest result image (413 past it)
    max_job_memory_mib: int  # the largest estimated peak memory of one item (413 past it)
    max_images_per_job: int  # every image a job makes (422 past it)
    max_items_per_job: int  # uploads or seeds in one job (422 past it)


class UsageOut(BaseModel):
    key: str
    admin: bool
    requests: Limit
    images_today: Limit
    job: JobLimits


class SessionOut(BaseModel):
    key: str
    admin: bool
    csrf_token: str | None  # send as X-CSRF-Token with the page's POST and DELETE requests


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as documented: no "1" for 1, no 0 for false

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    rate: str = Field(default="60/min", description="requests per window: N/s, N/min, N/h or N/day")
    images_per_day: int | None = Field(default=None, ge=0, le=MAX_IMAGES_PER_DAY)
    max_output_megapixels: float | None = Field(default=None, ge=0.01, le=MAX_OUTPUT_MEGAPIXELS, description=(
        "this key's largest result image, below the server's --max-output-megapixels; empty: the server's"))
    max_job_memory_mib: int | None = Field(default=None, ge=1, le=MAX_JOB_MEMORY_MIB, description=(
        "this key's largest estimated job memory, below the server's --max-job-memory-mib; empty: the server's"))
    admin: bool = False


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    admin: bool
    rate: str
    images_per_day: int | None
    max_output_megapixels: float | None
    max_job_memory_mib: int | None
    created: float
    revoked: float | None


class KeyCreated(KeyOut):
    secret: str  # shown once


class KeyList(BaseModel):
    keys: list[KeyOut]


class Cancelled(BaseModel):
    id: str
    status: JobStatus
