"""The studio's FastAPI application: ``create_app(settings)``.

Routers call the store, the service tools and the queue; they hold no business logic of their
own beyond checking requests. The page is static files served from ``static/``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Callable

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from .. import __version__
from . import errors
from .bodylimit import BodyLimit
from .errors import error_response
from .jobs import openapi_components
from .queues import JobQueue, make_queue
from .routes import jobs, keys, session, tools, uploads, usage
from .schemas import Health
from .settings import StudioSettings
from .store import Store

STATIC = Path(__file__).with_name("static")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
PAGE_CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
DESCRIPTION = """The ganforge studio's API: every ganforge tool as jobs.

1. `GET /v1/tools`: tools, their models and the JSON schema of their parameters.
2. `POST /v1/uploads` (multipart, field `files`) for tools that take images.
3. `POST /v1/jobs` answers `202` with the job and a `Location`; poll `GET /v1/jobs/{id}` or stream
   `GET /v1/jobs/{id}/events` (server-sent events); results are PNGs (one per item) and a zip.

Every `/v1` route except `/v1/health` needs `Authorization: Bearer KEY` (`ganforge keys create NAME`).
Errors are `{"error": {"code", "message", "field"}}`: `401` no valid key, `403` not yours or not an
admin, `404`, `409`, `413`/`415` refused uploads, `422` an invalid field (named in `field`), `429`
over a limit (wait `Retry-After` seconds)."""


def create_app(settings: StudioSettings | None = None, *, queue: JobQueue | None = None,
               on_ready: Callable[[], None] | None = None) -> FastAPI:
    """The application on ``settings.data_dir``; ``queue`` defaults to ``settings.queue``'s;
    ``on_ready`` runs once the queue has started (``ganforge serve`` prints its links then)."""
    settings = settings or StudioSettings()
    store = Store(settings.data_dir)
    queue = queue or make_queue(settings.queue, store, workers=settings.workers, stale_seconds=settings.stale_seconds)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        queue.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            queue.stop()

    app = FastAPI(title="ganforge studio", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None,
                  openapi_tags=[{"name": n} for n in ("tools", "uploads", "jobs", "usage", "keys (admin)", "session",
                                                      "health")])
    app.state.settings, app.state.store, app.state.queue = settings, store, queue
    errors.install(app)
    for router in (tools.router, uploads.router, jobs.router, usage.router, keys.router, session.router):
        app.include_router(router)

    upload_limit = settings.max_upload_bytes * settings.max_files_per_upload + 2**20

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if request.method == "POST" and request.url.path == "/v1/uploads":
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                return error_response(411, "length_required", "send Content-Length with an upload")
            if int(length) > upload_limit:
                return error_response(413, "too_large", f"upload of {int(length) / 2**20:.0f} MiB; at most "
                                                        f"{settings.max_files_per_upload} files of "
                                                        f"{settings.max_upload_bytes / 2**20:.0f} MiB")
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/docs"):  # Swagger UI starts with an inline script
            response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        return response

    @app.get("/v1/health", response_model=Health, tags=["health"])
    def health() -> Health:
        """Liveness (no key needed): version and queue."""
        return Health(status="ok", version=__version__, queue=queue.describe())

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_job_schemas(app)
    add_docs(app)
    # outermost, so no middleware or route reads a body past the limit; uploads have their own
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, exempt=("/v1/uploads",))
    return app


def add_job_schemas(app: FastAPI) -> None:
    """The OpenAPI document with ``JobIn``, the body of ``POST /v1/jobs``: one body per registered
    tool, each with its parameters (``studio.jobs.openapi_components``), as they are when asked."""
    made = app.openapi

    def openapi() -> dict:
        spec = made()
        body, defs = openapi_components()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(defs)
        schemas["JobIn"] = body
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def add_docs(app: FastAPI) -> None:
    """The OpenAPI page at /docs with Swagger UI 5's files served from here (the swagger-ui-py
    package ships them), since the studio may run with no internet; FastAPI's default page loads
    them from a CDN."""
    import swagger_ui
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = Path(swagger_ui.__file__).with_name("static")
    app.mount("/docs-assets", StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs():
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title}: API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css",
                                   swagger_favicon_url="/docs-assets/favicon-32x32.png")
