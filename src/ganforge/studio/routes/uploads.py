"""POST /v1/uploads (multipart images and tables, checked before anything is stored) and GET /v1/uploads/{id}."""

from __future__ import annotations

import re

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import FileResponse

from ...service.media import MEDIA, BadUpload, Limits
from ..auth import Caller, authenticate
from ..errors import ApiError, responses
from ..schemas import UploadOut, UploadsOut
from ..store import Store

router = APIRouter(prefix="/v1/uploads", tags=["uploads"])
TABLE_TYPES = ("text/csv", "application/csv")  # a part declared as one of these (or named *.csv) is a table


def display_name(name: str | None, index: int) -> str:
    """The client's file name for display only: its last part, printable, at most 120 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(c for c in base if c.isprintable()).strip()[:120]
    return base or f"upload-{index + 1}"


def upload_out(row: dict) -> UploadOut:
    return UploadOut(id=row["id"], filename=row["filename"], format=row["format"], media_type=row["media_type"],
                     width=row["width"], height=row["height"], bytes=row["bytes"], meta=row.get("meta"),
                     url=f"/v1/uploads/{row['id']}")


def media_kind(f: UploadFile) -> str:
    """The kind of upload a part declares: a table for CSV, otherwise an image (what is checked)."""
    declared = (f.content_type or "").split(";")[0].strip().lower()
    return "table" if declared in TABLE_TYPES or (f.filename or "").lower().endswith(".csv") else "image"


@router.post("", status_code=201, response_model=UploadsOut, responses=responses(400, 401, 403, 413, 415, 422, 429))
def upload(request: Request, files: list[UploadFile] = File(description="one or more images or CSV tables "
                                                                        "(field name: files)"),
           caller: Caller = Depends(authenticate)) -> UploadsOut:
    """Store images (or CSV tables, sent as text/csv) for later jobs. Each file is limited in
    bytes, and in pixels (images) or rows and columns (tables), must be one of the accepted
    formats and must decode fully; if any file is refused, none is stored."""
    settings = request.app.state.settings
    store: Store = request.app.state.store
    if len(files) > settings.max_files_per_upload:
        raise ApiError(413, "too_large", f"{len(files)} files in one upload; at most {settings.max_files_per_upload}",
                       field="files")
    checked = []
    for i, f in enumerate(files):
        name = display_name(f.filename, i)
        data = f.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise ApiError(413, "too_large", f"{name}: larger than {settings.max_upload_bytes / 2**20:.0f} MiB",
                           field=f"files[{i}]")
        limits = Limits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_upload_pixels)
        try:
            found = MEDIA.get(media_kind(f)).check(data, label=name, limits=limits)
        except BadUpload as err:
            status, code = (413, "too_large") if err.too_large else (415, "bad_upload")
            raise ApiError(status, code, f"{name}: {err.reason}", field=f"files[{i}]")
        checked.append((name, found, data))
    rows = [store.add_upload(caller.key.id, filename=n, fmt=c.format, width=c.width, height=c.height, data=d,
                             media_type=c.media_type, meta=c.meta or None)
            for n, c, d in checked]
    return UploadsOut(uploads=[upload_out(r) for r in rows])


@router.get("/{upload_id}", response_class=FileResponse, responses=responses(401, 403, 404, 429))
def get_upload(upload_id: str, request: Request, caller: Caller = Depends(authenticate)):
    """The uploaded file as it was sent."""
    store: Store = request.app.state.store
    row = store.upload(upload_id)
    if row is None:
        raise ApiError(404, "not_found", f"no upload '{upload_id}'")
    if row["key_id"] != caller.key.id and not caller.key.admin:
        raise ApiError(403, "forbidden", "this upload belongs to another key")
    return FileResponse(store.upload_path(row["id"]), media_type=row["media_type"] or "application/octet-stream")
