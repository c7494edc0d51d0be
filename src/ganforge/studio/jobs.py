"""Submitting jobs: what ``POST /v1/jobs`` does, out of the route.

:func:`job_body` builds the request body from the tool registry: one model per tool, told apart
by ``tool`` (a discriminated union), each with its own ``params`` model, so the OpenAPI page
documents every tool's parameters (:func:`openapi_components`) and a typo is a 422 naming the
field. The body is validated against the registry as it is when the request comes
(:func:`parse_body`), so a tool registered after the app was made is a tool like the others.
:func:`submit` checks a request against the tool, the model, the caller's uploads and limits,
and queues it.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

from fastapi.exceptions import RequestValidationError
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, WithJsonSchema,
                      create_model)

from ..errors import GanforgeError
from ..service.media import MEDIA
from ..service.tools import TOOLS, ParamsError, ServiceTool
from .auth import day_start
from .errors import ApiError
from .settings import MiB
from .store import Store

INPUTS_SCHEMA = {"anyOf": [{"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                           {"type": "array", "items": {"type": "string"}}]}


def inputs_type(tool: ServiceTool) -> Any:
    """A job's ``inputs``: upload ids by input name; a plain list is the tool's only input."""
    names = [spec.name for spec in tool.inputs]

    def named(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        if not value:
            return {}
        if not names:
            raise ValueError(f"{tool.name} takes no inputs")
        if len(names) > 1:
            raise ValueError(f"{tool.name} takes named inputs ({', '.join(names)}): send {{\"NAME\": [upload ids]}}")
        return {names[0]: value}

    return Annotated[dict[str, Annotated[list[str], Field(max_length=1000)]], BeforeValidator(named),
                     WithJsonSchema(INPUTS_SCHEMA)]


class JobBase(BaseModel):
    """What every job request has; each tool's body adds ``tool`` (its name) and ``params``."""

    model_config = ConfigDict(extra="forbid", strict=True)  # JSON types as documented: no "1" for 1, no 0 for false

    model: str = Field(description="one of the tool's models (GET /v1/tools)", examples=["fashion-cgan"])


def tool_body(tool: ServiceTool) -> type[JobBase]:
    """The request body of one tool: ``tool`` fixed to its name, ``params`` its Params model."""
    return create_model(f"{tool.name.title().replace('-', '').replace('_', '')}Job",
                        __base__=JobBase, __module__=__name__,
                        tool=(Literal[tool.name], Field(description=tool.summary)),
                        inputs=(inputs_type(tool), Field(default_factory=dict, description=(
                            "upload ids (POST /v1/uploads) by input name, e.g. {\"image\": [id, ...]}: one item per "
                            "upload of the tool's batch input; a plain list is the tool's only input"))),
                        params=(tool.Params, Field(default_factory=tool.Params, description=f"{tool.title}'s parameters")))


def job_body() -> Any:
    """The body of ``POST /v1/jobs``: a union of every registered tool's, discriminated on ``tool``."""
    return _adapter(_registry_key()).body


def _registry_key() -> tuple:
    return tuple((name, id(TOOLS.get(name))) for name in TOOLS.names())


class _Adapter:
    """The body type and its validator for one state of the tool registry."""

    def __init__(self) -> None:
        bodies = tuple(tool_body(TOOLS.get(name)) for name in TOOLS.names())
        self.body = Annotated[Union[bodies], Field(discriminator="tool")]  # type: ignore[valid-type]
        self.adapter = TypeAdapter(self.body)


@functools.lru_cache(maxsize=4)
def _adapter(key: tuple) -> _Adapter:
    return _Adapter()


def parse_body(body: Any) -> JobBase:
    """A request body validated against the tools registered now; a ``RequestValidationError``
    (the API's 422 naming the field) otherwise."""
    tool = body.get("tool") if isinstance(body, dict) else None
    if isinstance(body, dict) and not isinstance(tool, str):
        raise ApiError(422, "invalid", f"tool: a tool name is required (one of: {', '.join(TOOLS.names())})",
                       field="tool")
    if isinstance(tool, str) and tool not in TOOLS:
        try:
            TOOLS.get(tool)  # its error names the tools, with a "did you mean"
        except GanforgeError as err:
            raise ApiError(422, "invalid", f"tool: {err}", field="tool") from None
    try:
        # strict: JSON types as documented, in params too (no true for 1, no "8" for 8)
        return _adapter(_registry_key()).adapter.validate_python(body, strict=True)
    except ValidationError as err:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in err.errors()], body=body) from None


def openapi_components() -> tuple[dict, dict]:
    """(the body's schema, its component schemas) for the OpenAPI page, with references into
    ``#/components/schemas``."""
    schema = _adapter(_registry_key()).adapter.json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return schema, defs


def input_field(tool: ServiceTool, name: str, i: int) -> str:
    """The field an error about upload ``i`` of input ``name`` names: ``inputs[i]`` for a tool
    with one input (as a plain list is written), else ``inputs.NAME[i]``."""
    return f"inputs[{i}]" if len(tool.inputs) == 1 else f"inputs.{name}[{i}]"


def _refuse(err: GanforgeError, field: str) -> ApiError:
    if isinstance(err, ParamsError):
        return ApiError(422, "invalid", str(err), field=err.field)
    return ApiError(422, "invalid", f"{field}: {err}", field=field)


def submit(store: Store, settings: Any, key: Any, body: JobBase, idempotency: str | None) -> tuple[dict, bool]:
    """Check a job request and queue it: (the job's row, whether it is new). Refusals are
    ``ApiError`` with the status and field a client needs (422 naming the field, 429 over the
    image quota, 409 an Idempotency-Key reused for another job)."""
    tool = TOOLS.get(body.tool)  # the body's type guarantees a registered tool
    if body.model not in tool.models():
        raise ApiError(422, "invalid", f"model: '{body.model}' is not a model of {tool.name}; use one of: "
                                       f"{', '.join(tool.models())}", field="model")
    inputs = body.inputs
    params = body.params
    try:
        tool.check(tool.model_info(body.model), params)
        plan = tool.plan(params, {name: len(ids) for name, ids in inputs.items()})
    except GanforgeError as err:
        raise _refuse(err, "params") from None
    if len(plan) > settings.max_items_per_job:
        raise ApiError(422, "invalid", f"{len(plan)} items in one job; at most {settings.max_items_per_job}",
                       field="inputs" if tool.takes_images else "params.seeds")
    uploads = _own_uploads(store, key, tool, inputs)
    per_item = tool.images(params)
    _check_cost(job_limits(settings, key), tool, body.model, params, inputs, uploads, plan, len(plan) * per_item)
    _check_quota(store, key, len(plan) * per_item)
    batch = next((spec.name for spec in tool.inputs if spec.many), None)
    items = []
    for it in plan:
        chosen = {name: inputs[name][i] for name, i in it.inputs.items()}
        # the item's own upload (of the batch input, or its only one) labels it
        own = chosen.get(batch) if batch else (next(iter(chosen.values())) if len(chosen) == 1 else None)
        items.append({"label": uploads[own]["filename"] if own else it.label, "seed": it.seed, "upload_id": own,
                      "inputs": chosen, "images": per_item})
    clean = params.model_dump(mode="json")
    job_id, created = store.add_job(key_id=key.id, tool=tool.name, model=body.model, params=clean, items=items,
                                    idempotency=idempotency)
    job = store.job(job_id)
    if not created and (job["tool"], job["model"], json.loads(job["params"])) != (tool.name, body.model, clean):
        raise ApiError(409, "conflict", "this Idempotency-Key was used for a different job; use a new key")
    return job, created


def _own_uploads(store: Store, key: Any, tool: ServiceTool, inputs: dict[str, list[str]]) -> dict[str, dict]:
    """The caller's uploads named by ``inputs``, each of the media its input declares."""
    specs = {spec.name: spec for spec in tool.inputs}
    rows = {}
    for name, ids in inputs.items():
        for i, upload_id in enumerate(ids):
            where = input_field(tool, name, i)
            row = store.upload(upload_id)
            if row is None or row["key_id"] != key.id:
                raise ApiError(422, "invalid", f"{where}: no upload '{upload_id}' of yours (POST /v1/uploads first)",
                               field=where)
            media = MEDIA.get(specs[name].media)
            if row["media_type"] not in media.media_types:
                raise ApiError(422, "invalid", f"{where}: '{row['filename']}' is {row['media_type']}; {name} takes "
                                               f"{media.title} ({', '.join(media.media_types)})", field=where)
            rows[upload_id] = row
    return rows


@dataclass(frozen=True)
class JobLimits:
    """What one job of a key may cost: the server's limit, or the key's own where it set a lower
    one; ``source`` names each limit's origin for messages (the option that sets it)."""

    max_output_megapixels: float
    max_job_memory_mib: int
    max_images_per_job: int
    max_items_per_job: int
    source: dict[str, str]

    def public(self) -> dict[str, Any]:
        return {"max_output_megapixels": self.max_output_megapixels, "max_job_memory_mib": self.max_job_memory_mib,
                "max_images_per_job": self.max_images_per_job, "max_items_per_job": self.max_items_per_job}


def job_limits(settings: Any, key: Any) -> JobLimits:
    """The limits a job of ``key`` is checked against: the lower of the server's and the key's."""
    values, source = {}, {}
    for name in ("max_output_megapixels", "max_job_memory_mib"):
        server, own = getattr(settings, name), getattr(key, name, None)
        option = "--" + name.replace("_", "-")
        if own is not None and own < server:
            values[name], source[name] = own, f"key '{key.name}' {option}"
        else:
            values[name], source[name] = server, option
    source["max_images_per_job"] = "--max-images-per-job"
    return JobLimits(max_images_per_job=settings.max_images_per_job, max_items_per_job=settings.max_items_per_job,
                     source=source, **values)


def _check_cost(limits: JobLimits, tool: ServiceTool, model: str, params: Any, inputs: dict[str, list[str]],
                uploads: dict[str, dict], plan: list[Any], n_images: int) -> None:
    """What the job will cost, known before it is queued: the images it makes against
    ``max_images_per_job`` (422); the size of each upload's result against
    ``max_output_megapixels``, and each item's estimated peak memory (from the sizes of its
    uploads) against ``max_job_memory_mib`` (413), so no job can grow past what the server was
    sized for."""
    if n_images > limits.max_images_per_job:
        raise ApiError(422, "invalid", f"this job makes {n_images} images; this server makes at most "
                                       f"{limits.max_images_per_job} in one job (--max-images-per-job)",
                       field="params")

    def size_of(upload_id: str) -> tuple[int, int]:
        return int(uploads[upload_id]["width"]), int(uploads[upload_id]["height"])

    def described(name: str, i: int) -> tuple[str, str]:
        row, where = uploads[inputs[name][i]], input_field(tool, name, i)
        return where, f"{where}: '{row['filename']}' ({row['width']} x {row['height']})"

    for name, ids in inputs.items():
        for i, upload_id in enumerate(ids):
            out = tool.output_size(model, params, size_of(upload_id))
            if out is not None and out[0] * out[1] / 1e6 > limits.max_output_megapixels:
                where, what = described(name, i)
                mp = out[0] * out[1] / 1e6
                raise ApiError(413, "too_large", f"{what} would give a {out[0]} x {out[1]} result, {mp:.0f} megapixels; "
                                                 f"at most {limits.max_output_megapixels:g} megapixels per result "
                                                 f"({limits.source['max_output_megapixels']})", field=where)
    batch = next((spec.name for spec in tool.inputs if spec.many), None)
    for item in plan:
        if not item.inputs:
            continue
        need = tool.memory(model, params, {name: size_of(inputs[name][i]) for name, i in item.inputs.items()})
        if need is not None and need > limits.max_job_memory_mib * MiB:
            name = batch if batch in item.inputs else next(iter(item.inputs))
            where, what = described(name, item.inputs[name])
            raise ApiError(413, "too_large", f"{what} would need about {need / MiB:,.0f} MiB with these parameters; "
                                             f"at most {limits.max_job_memory_mib:,} MiB per job "
                                             f"({limits.source['max_job_memory_mib']}): a smaller tile or image "
                                             "needs less", field=where)


def _check_quota(store: Store, key: Any, n_images: int) -> None:
    """Every image the job will make against the key's images per day (each picture of a grid counts)."""
    limit = key.images_per_day
    if limit is None:
        return
    start = day_start()
    used = store.images_since(key.id, start)
    if used + n_images > limit:
        wait = max(1, int(start + 86400 - time.time()))
        raise ApiError(429, "rate_limited", f"this job makes {n_images} images and key '{key.name}' has "
                                            f"{limit - used} of its {limit} images left today (resets at 00:00 UTC)",
                       headers={"Retry-After": str(wait)})
