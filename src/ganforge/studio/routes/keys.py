"""Admin routes: list, create and revoke API keys (as ``ganforge keys`` does on the server)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from ...errors import GanforgeError
from ..auth import Caller, authenticate, create_key, require_admin
from ..errors import ApiError, responses
from ..schemas import KeyCreated, KeyIn, KeyList, KeyOut
from ..store import Store

router = APIRouter(prefix="/v1/keys", tags=["keys (admin)"])


def admin(caller: Caller = Depends(authenticate)) -> Caller:
    require_admin(caller)
    return caller


@router.get("", response_model=KeyList, responses=responses(401, 403, 429))
def list_keys(request: Request, caller: Caller = Depends(admin)) -> KeyList:
    """Every key (never its secret)."""
    return KeyList(keys=[KeyOut(**k.public()) for k in request.app.state.store.keys()])


@router.post("", status_code=201, response_model=KeyCreated, responses=responses(400, 401, 403, 409, 422, 429))
def new_key(body: KeyIn, request: Request, caller: Caller = Depends(admin)) -> KeyCreated:
    """A new key; its secret is in this answer only."""
    store: Store = request.app.state.store
    if store.key_by_name(body.name) is not None:
        raise ApiError(409, "conflict", f"a key named '{body.name}' exists", field="name")
    try:
        key, secret = create_key(store, body.name, rate=body.rate, images_per_day=body.images_per_day, admin=body.admin,
                                 max_output_megapixels=body.max_output_megapixels,
                                 max_job_memory_mib=body.max_job_memory_mib)
    except GanforgeError as err:
        raise ApiError(422, "invalid", str(err), field="rate") from None
    return KeyCreated(**key.public(), secret=secret)


@router.delete("/{name}", status_code=204, response_class=Response, responses=responses(401, 403, 404, 429))
def revoke(name: str, request: Request, caller: Caller = Depends(admin)) -> Response:
    """Revoke a key: its requests and sessions stop at once."""
    if not request.app.state.store.revoke_key(name):
        raise ApiError(404, "not_found", f"no live key named '{name}'")
    return Response(status_code=204)
