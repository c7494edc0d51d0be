"""API keys, sign-in links, sessions, cross-site protection and usage limits.

A key is ``gf_<prefix>_<secret>``: the prefix (public, shown in ``keys list``) finds the stored
SHA-256 hash, which is compared in constant time. Keys are random 256-bit strings, so a fast
hash is enough (there is no password to guess). The secret is shown once, at creation.

The page signs in with a one-time link (``/signin?token=...``, valid ``signin_minutes``) that
``ganforge serve`` prints: the token is exchanged for a session cookie (HttpOnly, SameSite=Strict)
and never is the API key itself in a URL. Requests made with the cookie that change anything
must carry the session's CSRF token in ``X-CSRF-Token`` and, when the browser sends one, an
``Origin`` of this server.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import GanforgeError
from .errors import ApiError
from .settings import MAX_IMAGES_PER_DAY, MAX_JOB_MEMORY_MIB, MAX_OUTPUT_MEGAPIXELS, MAX_RATE
from .store import Key, Store

KEY_RE = re.compile(r"^gf_([0-9a-f]{8})_([A-Za-z0-9_-]{20,})$")
SESSION_COOKIE = "ganforge_session"
CSRF_HEADER = "X-CSRF-Token"
OWNER = "studio-owner"  # the admin key the page's sign-in links belong to
UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "day": 86400, "d": 86400}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_rate(text: str) -> tuple[int, int]:
    """``"60/min"`` -> (60, 60): requests and window seconds (s, min, h, day)."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*([a-z]+)\s*", str(text))
    if not m or m.group(2) not in UNITS or not 1 <= int(m.group(1)) <= MAX_RATE:
        raise GanforgeError(f"rate '{text}': write REQUESTS/UNIT with REQUESTS from 1 to {MAX_RATE} and UNIT one of s, "
                            "min, h, day (for example 60/min)")
    return int(m.group(1)), UNITS[m.group(2)]


def create_key(store: Store, name: str, *, rate: str = "60/min", images_per_day: int | None = None,
               admin: bool = False, max_output_megapixels: float | None = None,
               max_job_memory_mib: int | None = None) -> tuple[Key, str]:
    """A new key and its secret (shown once; only its hash is stored). ``max_output_megapixels``
    and ``max_job_memory_mib`` cap this key's jobs below the server's limits (None: the server's)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", name):
        raise GanforgeError(f"key name '{name}': use 1-64 letters, digits, '.', '_' or '-'")
    if images_per_day is not None and not 0 <= images_per_day <= MAX_IMAGES_PER_DAY:
        raise GanforgeError(f"--images-per-day must be from 0 to {MAX_IMAGES_PER_DAY}, got {images_per_day}")
    if max_output_megapixels is not None and not 0.01 <= max_output_megapixels <= MAX_OUTPUT_MEGAPIXELS:
        raise GanforgeError(f"--max-output-megapixels must be from 0.01 to {MAX_OUTPUT_MEGAPIXELS:g}, "
                            f"got {max_output_megapixels:g}")
    if max_job_memory_mib is not None and not 1 <= max_job_memory_mib <= MAX_JOB_MEMORY_MIB:
        raise GanforgeError(f"--max-job-memory-mib must be from 1 to {MAX_JOB_MEMORY_MIB}, got {max_job_memory_mib}")
    count, seconds = parse_rate(rate)
    prefix = secrets.token_hex(4)
    secret = f"gf_{prefix}_{secrets.token_urlsafe(32)}"
    try:
        key = store.add_key(name=name, key_hash=digest(secret), prefix=prefix, admin=admin, rate_count=count,
                            rate_seconds=seconds, images_per_day=images_per_day,
                            max_output_megapixels=max_output_megapixels, max_job_memory_mib=max_job_memory_mib)
    except KeyError:
        raise GanforgeError(f"a key named '{name}' exists; choose another name or revoke it first") from None
    return key, secret


def key_for_secret(store: Store, secret: str) -> Key | None:
    m = KEY_RE.match(secret or "")
    if not m:
        return None
    wanted = digest(secret)
    found = None
    for key_id, stored in store.key_hashes(m.group(1)):
        if hmac.compare_digest(stored, wanted):
            found = key_id
    return store.key(found) if found else None


def owner_key(store: Store) -> Key:
    """The studio owner's admin key (created on first use; its secret is never needed)."""
    key = store.key_by_name(OWNER)
    if key is None or key.revoked:
        if key is not None:
            raise GanforgeError(f"the '{OWNER}' key was revoked; sign-in links need it (use a new --data-dir)")
        key, _ = create_key(store, OWNER, rate="600/min", admin=True)
    return key


def signin_token(store: Store, key: Key, minutes: float) -> str:
    token = secrets.token_urlsafe(32)
    store.add_signin_token(digest(token), key.id, minutes * 60)
    return token


def start_session(store: Store, token: str, hours: float) -> tuple[str, str] | None:
    """Exchange a sign-in token for (session id, csrf token); None if the token is unknown or used."""
    key_id = store.use_signin_token(digest(token))
    if key_id is None:
        return None
    key = store.key(key_id)
    if key is None or key.revoked:
        return None
    session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    store.add_session(digest(session), key_id, csrf, hours * 3600)
    return session, csrf


@dataclass
class Caller:
    key: Key
    via: str  # "bearer" | "session"
    csrf: str | None = None


# Declares the scheme in the OpenAPI document (the /docs page's Authorize button); the header is
# checked by _identify, which also accepts the page's session cookie.
BEARER = HTTPBearer(auto_error=False, scheme_name="API key",
                    description="a key from `ganforge keys create NAME`: Authorization: Bearer gf_...")


def authenticate(request: Request, _declared: HTTPAuthorizationCredentials | None = Security(BEARER)) -> Caller:
    """The caller of a /v1 request, its request counted against the key's rate (401 / 403 / 429)."""
    store: Store = request.app.state.store
    caller = _identify(request, store)
    if caller.via == "session" and request.method not in SAFE_METHODS:
        _check_same_site(request, caller)
    count, reset = store.count_request(caller.key.id, caller.key.rate_seconds)
    if count > caller.key.rate_count:
        wait = max(1, int(reset + 0.999))
        raise ApiError(429, "rate_limited", f"more than {caller.key.rate_count} requests in "
                                            f"{caller.key.rate_seconds} s for key '{caller.key.name}'; retry in {wait} s",
                       headers={"Retry-After": str(wait)})
    return caller


def _identify(request: Request, store: Store) -> Caller:
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        key = key_for_secret(store, secret.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            raise ApiError(401, "unauthorized", "invalid API key: send Authorization: Bearer gf_... with a key from "
                                                "'ganforge keys create'", headers={"WWW-Authenticate": "Bearer"})
        return Caller(key, "bearer")
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        found = store.session(digest(cookie))
        key = store.key(found[0]) if found else None
        if key is not None and not key.revoked:
            return Caller(key, "session", found[1])
    raise ApiError(401, "unauthorized", "sign in: send Authorization: Bearer KEY (ganforge keys create NAME) or open "
                                        "the sign-in link ganforge serve printed", headers={"WWW-Authenticate": "Bearer"})


def _check_same_site(request: Request, caller: Caller) -> None:
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise ApiError(403, "forbidden", f"cross-site request from {origin} refused")
    sent = request.headers.get(CSRF_HEADER, "")
    if not (caller.csrf and hmac.compare_digest(sent.encode(), caller.csrf.encode())):
        raise ApiError(403, "forbidden", f"missing or wrong {CSRF_HEADER} header (read it from GET /v1/session)")


def require_admin(caller: Caller) -> None:
    if not caller.key.admin:
        raise ApiError(403, "forbidden", f"key '{caller.key.name}' is not an admin key (ganforge keys create NAME --admin)")


def day_start(at: float | None = None) -> float:
    """Midnight UTC of the day ``at`` falls in (daily image limits reset then)."""
    t = datetime.fromtimestamp(time.time() if at is None else at, tz=timezone.utc)
    return t.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
