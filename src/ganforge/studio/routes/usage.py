"""GET /v1/usage: the caller's use against its limits."""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Request

from ..auth import Caller, authenticate, day_start
from ..errors import responses
from ..jobs import job_limits
from ..schemas import JobLimits, Limit, UsageOut
from ..store import Store

router = APIRouter(prefix="/v1/usage", tags=["usage"])


@router.get("", response_model=UsageOut, responses=responses(401, 429))
def usage(request: Request, caller: Caller = Depends(authenticate)) -> UsageOut:
    """Requests in the current rate window (this one included), images asked for today (UTC) and
    what one job may cost (the server's limits, lowered by the key's own)."""
    store: Store = request.app.state.store
    key, now = caller.key, time.time()
    window_end = (int(now // key.rate_seconds) + 1) * key.rate_seconds
    start = day_start(now)
    return UsageOut(key=key.name, admin=key.admin,
                    requests=Limit(limit=key.rate_count, used=store.requests_in_window(key.id, key.rate_seconds),
                                   window_seconds=key.rate_seconds, resets_at=window_end),
                    images_today=Limit(limit=key.images_per_day, used=store.images_since(key.id, start),
                                       window_seconds=86400, resets_at=start + 86400),
                    job=JobLimits(**job_limits(request.app.state.settings, key).public()))
