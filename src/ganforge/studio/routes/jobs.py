"""Jobs: submit (202 + Location), status, server-sent progress, cancel, history, results and zip.

The submit body is validated against the tools registered when the request comes
(``studio.jobs.parse_body``), and the OpenAPI page documents it as the union of every tool's body
(``studio.jobs.openapi_components``, added by the app's ``openapi``).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile

from typing import Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, StreamingResponse

from ..auth import Caller, authenticate
from ..errors import ApiError, responses
from ..jobs import parse_body, submit
from ..schemas import Cancelled, ItemOut, JobLinks, JobList, JobOut, JobProgress, JobStatus, Progress
from ..store import FINISHED, Store

KEEPALIVE = 15.0  # seconds between comment lines on a quiet event stream


def job_out(store: Store, job: dict) -> JobOut:
    jid = job["id"]
    items, finished, partial = [], 0, 0.0
    for it in store.items(jid):
        done = it["status"] in ("succeeded", "failed", "cancelled")
        finished += done
        if it["status"] == "running" and it["total"]:
            partial += it["done"] / it["total"]
        items.append(ItemOut(index=it["idx"], label=it["label"], status=it["status"], seed=it["seed"],
                             progress=Progress(done=it["done"], total=it["total"]), error=it["error"],
                             input_url=f"/v1/uploads/{it['upload_id']}" if it["upload_id"] else None,
                             inputs={name: f"/v1/uploads/{u}" for name, u in (it["inputs"] or {}).items()},
                             result_url=f"/v1/jobs/{jid}/results/{it['idx']}" if it["result"] else None,
                             media_type=it["media_type"] if it["result"] else None))
    total = job["n_items"]
    return JobOut(id=jid, tool=job["tool"], model=job["model"], params=json.loads(job["params"]), status=job["status"],
                  created=job["created"], started=job["started"], finished=job["finished"], error=job["error"],
                  attempts=job["attempts"],
                  progress=JobProgress(items_done=finished, items_total=total,
                                       fraction=round((finished + partial) / total, 4) if total else 1.0),
                  items=items, links=JobLinks(self=f"/v1/jobs/{jid}", events=f"/v1/jobs/{jid}/events",
                                              zip=f"/v1/jobs/{jid}/results.zip"))


def owned_job(store: Store, job_id: str, caller: Caller) -> dict:
    job = store.job(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job '{job_id}'")
    if job["key_id"] != caller.key.id and not caller.key.admin:
        raise ApiError(403, "forbidden", "this job belongs to another key")
    return job


router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


async def json_body(request: Request) -> Any:
    """The request's JSON (its size already bounded by ``studio.bodylimit``); a body that is not
    UTF-8 JSON, or nests too deeply, is a 422 ``invalid`` as api.md says of a malformed body."""
    raw = await request.body()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ApiError(422, "invalid", f"the body is not UTF-8 JSON (byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise ApiError(422, "invalid", f"the body is not valid JSON ({err.msg}, character {err.pos})") from None
    except RecursionError:
        raise ApiError(422, "invalid", "the body nests too deeply to be a job") from None
JOB_IN = {"$ref": "#/components/schemas/JobIn"}  # filled in by the app's openapi (studio/app.py)
EXAMPLES = {  # what /docs offers to try (one body per tool is in the schema)
    "generate": {"summary": "generate: two seeds, 16 images each",
                 "value": {"tool": "generate", "model": "fashion-cgan", "params": {"seeds": [1, 2], "count": 16}}},
    "upscale": {"summary": "upscale: a batch of uploads",
                "value": {"tool": "upscale", "model": "photo-upscale-x2", "params": {"tile": 512},
                          "inputs": {"image": ["UPLOAD_ID", "UPLOAD_ID"]}}},
}


@router.post("", status_code=202, response_model=JobOut, responses=responses(400, 401, 403, 409, 422, 429),
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": JOB_IN, "examples": EXAMPLES}}}})
def create_job(request: Request, response: Response, caller: Caller = Depends(authenticate),
               body: Any = Depends(json_body),  # after the key: no body is parsed for a caller without one
               idempotency_key: str | None = Header(default=None, max_length=200,
                                                    description="a retried POST with the same key returns the same job")
               ) -> JobOut:
    """Queue a job: one item per input image (photo tools) or per seed (generate). Answers at once
    with the job; follow `Location`, poll it or stream its events. The body's `tool` picks its
    `params` schema (JobIn: one body per tool)."""
    store: Store = request.app.state.store
    job, created = submit(store, request.app.state.settings, caller.key, parse_body(body), idempotency_key)
    if created:
        request.app.state.queue.notify()
    response.headers["Location"] = f"/v1/jobs/{job['id']}"
    return job_out(store, job)


@router.get("", response_model=JobList, responses=responses(401, 422, 429))
def list_jobs(request: Request, caller: Caller = Depends(authenticate),
              limit: int = Query(20, ge=1, le=200),
              before: int | None = Query(None, ge=1, le=2**63 - 1,  # SQLite's largest integer
                                         description="next_before of the previous page"),
              status: JobStatus | None = None) -> JobList:
    """The caller's jobs, newest first (history)."""
    store: Store = request.app.state.store
    rows = store.jobs(caller.key.id, limit=limit, before=before, status=status)
    return JobList(jobs=[job_out(store, j) for j in rows],
                   next_before=rows[-1]["seq"] if len(rows) == limit else None)


@router.get("/{job_id}", response_model=JobOut, responses=responses(401, 403, 404, 429))
def get_job(job_id: str, request: Request, caller: Caller = Depends(authenticate)) -> JobOut:
    """Status, progress, per-item status and result links."""
    store: Store = request.app.state.store
    return job_out(store, owned_job(store, job_id, caller))


@router.get("/{job_id}/events", responses={**responses(401, 403, 404, 429),
                                           200: {"content": {"text/event-stream": {}},
                                                 "description": "`event: job` with the job's JSON at each change; "
                                                                "the stream ends after the job finishes"}})
async def job_events(job_id: str, request: Request, caller: Caller = Depends(authenticate)) -> StreamingResponse:
    """Server-sent events: the job (as GET /v1/jobs/{id}) each time it changes, until it finishes."""
    store: Store = request.app.state.store
    await run_in_threadpool(owned_job, store, job_id, caller)
    poll = request.app.state.settings.events_poll

    async def stream():
        version, quiet = None, time.monotonic()
        while True:
            job = await run_in_threadpool(store.job, job_id)
            if job["version"] != version:
                version = job["version"]
                out = await run_in_threadpool(job_out, store, job)
                yield f"event: job\nid: {version}\ndata: {out.model_dump_json()}\n\n"
                quiet = time.monotonic()
                if job["status"] in FINISHED:
                    return
            elif time.monotonic() - quiet > KEEPALIVE:
                yield ": keep-alive\n\n"
                quiet = time.monotonic()
            if await request.is_disconnected():
                return
            await asyncio.sleep(poll)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.delete("/{job_id}", status_code=202, response_model=Cancelled, responses=responses(401, 403, 404, 409, 429))
def cancel_job(job_id: str, request: Request, caller: Caller = Depends(authenticate)) -> Cancelled:
    """Cancel a job: a queued job at once, a running one at its next item or tile (finished items keep
    their results)."""
    store: Store = request.app.state.store
    job = owned_job(store, job_id, caller)
    if job["status"] in FINISHED:
        raise ApiError(409, "conflict", f"job {job_id} already {job['status']}")
    status = store.request_cancel(job_id)
    request.app.state.queue.cancel(job_id)
    return Cancelled(id=job_id, status=status)


@router.get("/{job_id}/results.zip", response_class=Response, responses={
    **responses(401, 403, 404, 429), 200: {"content": {"application/zip": {}}, "description": "every result and job.json"}})
def results_zip(job_id: str, request: Request, caller: Caller = Depends(authenticate)) -> Response:
    """Every result of the job so far as one zip, with job.json (tool, model, parameters, items)."""
    store: Store = request.app.state.store
    job = owned_job(store, job_id, caller)
    out = job_out(store, job)
    names = [(it["result"], it["media_type"] or "image/png") for it in store.items(job_id) if it["result"]]
    if not names:
        raise ApiError(404, "not_found", f"job {job_id} has no results yet (status {job['status']})")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, media_type in names:
            # PNGs are compressed already; other results (CSV tables) are deflated
            kind = zipfile.ZIP_STORED if media_type.startswith("image/") else zipfile.ZIP_DEFLATED
            zf.write(store.result_dir(job_id) / name, arcname=name, compress_type=kind)
        zf.writestr("job.json", out.model_dump_json(indent=2))
    return Response(buf.getvalue(), media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="ganforge-{job_id}.zip"'})


@router.get("/{job_id}/results/{index}", response_class=FileResponse, responses={
    **responses(401, 403, 404, 429), 200: {"content": {"image/png": {}, "text/csv": {}, "application/json": {}},
                                           "description": "the result in its media type (the item's media_type); "
                                                          "a PNG's text chunks hold tool, model, parameters, seed"}})
def result(job_id: str, index: int, request: Request, caller: Caller = Depends(authenticate)):
    """One item's result."""
    store: Store = request.app.state.store
    owned_job(store, job_id, caller)
    item = next((it for it in store.items(job_id) if it["idx"] == index), None)
    if item is None or not item["result"]:
        raise ApiError(404, "not_found", f"job {job_id} has no result for item {index}"
                                         + (f" (status {item['status']})" if item else ""))
    return FileResponse(store.result_dir(job_id) / item["result"], media_type=item["media_type"] or "image/png",
                        filename=item["result"])
