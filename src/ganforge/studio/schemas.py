"""The API's request and response bodies: the contract the OpenAPI page documents."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .settings import MAX_IMAGES_PER_DAY

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
    name: str  # the input's key in a job
    title: str  # shown on the page
    media_types: list[str]  # what its uploads may be (the page's file chooser offers these)
    many: bool  # several files (one item each) or exactly one
    description: str


class ToolOut(BaseModel):
    name: str
    title: str
    summary: str
    takes_images: bool  # True: the job's inputs are uploaded images, one item each; False: seeds
    inputs: list[InputOut]  # the uploads a job takes, one entry per named input; empty: none
    models: list[ModelOut]
    params_schema: dict[str, Any]  # JSON schema of `params`


class UploadOut(BaseModel):
    id: str
    filename: str
    format: str
    width: int
    height: int
    bytes: int
    url: str


class UploadsOut(BaseModel):
    uploads: list[UploadOut]


class JobIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as documented: no "1" for 1, no 0 for false

    tool: str = Field(description="a tool name from GET /v1/tools", examples=["generate"])
    model: str = Field(description="one of the tool's models", examples=["fashion-cgan"])
    params: dict[str, Any] = Field(default_factory=dict, description="the tool's parameters (its params_schema)",
                                   examples=[{"seeds": [1, 2], "count": 16}])
    inputs: list[str] = Field(default_factory=list, max_length=1000,
                              description="upload ids (POST /v1/uploads) for tools that take images")


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
    input_url: str | None
    result_url: str | None


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


class UsageOut(BaseModel):
    key: str
    admin: bool
    requests: Limit
    images_today: Limit


class SessionOut(BaseModel):
    key: str
    admin: bool
    csrf_token: str | None  # send as X-CSRF-Token with the page's POST and DELETE requests


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as documented: no "1" for 1, no 0 for false

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    rate: str = Field(default="60/min", description="requests per window: N/s, N/min, N/h or N/day")
    images_per_day: int | None = Field(default=None, ge=0, le=MAX_IMAGES_PER_DAY)
    admin: bool = False


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    admin: bool
    rate: str
    images_per_day: int | None
    created: float
    revoked: float | None


class KeyCreated(KeyOut):
    secret: str  # shown once


class KeyList(BaseModel):
    keys: list[KeyOut]


class Cancelled(BaseModel):
    id: str
    status: JobStatus
