"""The page's session: the one-time sign-in link, who is signed in (with the CSRF token), sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..auth import SESSION_COOKIE, Caller, authenticate, digest, start_session
from ..errors import responses
from ..schemas import SessionOut

router = APIRouter(tags=["session"])

# styled by the page's stylesheet: the CSP refuses inline styles
EXPIRED_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ganforge studio: sign in</title>
<link rel="stylesheet" href="/static/studio.css">
<main><section class="card signed-out"><h1>This sign-in link cannot be used</h1>
<p>Sign-in links work once and for a few minutes. Get a new one on the server with
<code>ganforge keys link</code> (or restart <code>ganforge serve</code>, which prints one).</p></section></main></html>"""


@router.get("/signin", response_class=RedirectResponse, status_code=303, responses={401: {"description": "used or "
                                                                                                 "expired link"}})
def signin(request: Request, token: str = Query(max_length=200, description="the one-time token of a sign-in link")):
    """Exchange a one-time sign-in token for a session cookie (HttpOnly, SameSite=Strict), then go to the page."""
    settings = request.app.state.settings
    started = start_session(request.app.state.store, token, settings.session_hours)
    if started is None:
        return HTMLResponse(EXPIRED_PAGE, status_code=401)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(SESSION_COOKIE, started[0], max_age=int(settings.session_hours * 3600), httponly=True,
                        samesite="strict", secure=settings.secure_cookies, path="/")
    return response


@router.get("/v1/session", response_model=SessionOut, responses=responses(401, 429))
def session(caller: Caller = Depends(authenticate)) -> SessionOut:
    """Who is calling; for the page, the CSRF token its POST and DELETE requests must send."""
    return SessionOut(key=caller.key.name, admin=caller.key.admin, csrf_token=caller.csrf)


@router.post("/v1/session/signout", status_code=204, response_class=Response, responses=responses(401, 403, 429))
def signout(request: Request, caller: Caller = Depends(authenticate)) -> Response:
    """End the page's session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if caller.via == "session" and cookie:
        request.app.state.store.end_session(digest(cookie))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
