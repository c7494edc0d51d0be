"""API errors as one JSON shape: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GanforgeError


class ErrorDetail(BaseModel):
    code: str  # "unauthorized", "forbidden", "not_found", "rate_limited", "invalid", "bad_upload", ...
    message: str  # one line for people
    field: str | None = None  # the request field at fault ("params.seeds", "files[0]")


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error codes a route can answer."""
    what = {400: "Bad request", 401: "No valid API key or session", 403: "Not yours, not an admin, or a cross-site "
            "request", 404: "Not found", 409: "Conflict", 413: "Upload too large", 415: "Not an accepted image",
            422: "A field is invalid (named in error.field)", 429: "Over a usage limit (see Retry-After)"}
    return {c: {"model": ErrorBody, "description": what[c]} for c in codes}


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 413: "too_large", 415: "unsupported", 422: "invalid", 429: "rate_limited"}


def install(app) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, err: ApiError):
        return error_response(err.status, err.code, err.message, err.field, err.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, err: RequestValidationError):
        first = err.errors()[0] if err.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":  # its loc is a character position, not a field
            detail = first.get("ctx", {}).get("error")
            return error_response(422, "invalid", f"the body is not valid JSON{f' ({detail})' if detail else ''}")
        raw = list(first.get("loc", ()))
        body = err.body if isinstance(err.body, dict) else {}
        if first.get("type") in ("union_tag_invalid", "union_tag_not_found"):  # the discriminator itself is wrong
            tag = str(first.get("ctx", {}).get("discriminator", "")).strip("'") or "body"
            return error_response(422, "invalid", f"{tag}: {first.get('msg', 'invalid')}", tag)
        if raw[:1] == ["body"] and len(raw) > 1 and body and raw[1] == body.get("tool"):
            del raw[1]  # a tagged union's loc names the tag it chose (the tool); the client's field follows it
        loc = [str(p) for p in raw if p not in ("body", "query", "path", "header")]
        field = ".".join(loc) or None
        return error_response(422, "invalid", f"{field + ': ' if field else ''}{first.get('msg', 'invalid')}", field)

    @app.exception_handler(GanforgeError)
    async def _ganforge(request: Request, err: GanforgeError):
        field = getattr(err, "field", None)
        return error_response(422 if field else 400, "invalid" if field else "bad_request", str(err), field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, err: StarletteHTTPException):
        headers = getattr(err, "headers", None)
        if err.status_code == 405:
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return error_response(err.status_code, STATUS_CODES.get(err.status_code, "error"), str(err.detail),
                              headers=headers)


def allowed_methods(request: Request) -> str:
    """Every method the request's path answers, for a 405's ``Allow`` (Starlette's names only the
    first route of the path, and GET /v1/jobs and POST /v1/jobs are two routes)."""
    from starlette.routing import Match

    methods = [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
               if any(route.matches({**request.scope, "method": m})[0] == Match.FULL for route in request.app.routes)]
    return ", ".join(methods)
