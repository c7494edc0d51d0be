"""Who may call what: API keys (401), ownership and admin rights (403), usage limits (429), keys
stored hashed, the page's one-time sign-in link, its session cookie and cross-site protection,
and the ``ganforge keys`` commands.

Route-wide checks walk the application's OpenAPI paths, so a new /v1 route is covered without
touching this file.
"""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient

from ganforge.studio.auth import KEY_RE, OWNER, SESSION_COOKIE, digest, owner_key, signin_token

from ..test_cli import assert_one_line_error, run_cli
from .conftest import key, make_app, wait_for
from .test_jobs import png_bytes, upload

PUBLIC = {"/v1/health"}
# A value for every path parameter of the API (a route with a new one fails here until added).
PATH_VALUES = {"job_id": "0" * 24, "upload_id": "0" * 24, "index": "0", "name": "nobody"}
SMALL_JOB = {"tool": "generate", "model": "fashion-cgan", "params": {"seeds": [1], "count": 1}}


def v1_operations(app, prefix: str = "/v1") -> list[tuple[str, str]]:
    """(method, path template) of every documented operation under ``prefix`` but /v1/health."""
    return [(method.upper(), path) for path, ops in app.openapi()["paths"].items()
            if path.startswith(prefix) and path not in PUBLIC for method in ops]


def concrete(path: str, **values: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {**PATH_VALUES, **values}[m.group(1)], path)


def call(client: TestClient, method: str, url: str, headers: dict | None = None, **kw):
    return client.request(method, url, headers=headers or {}, **kw)


def test_every_v1_route_needs_a_valid_live_key(app, client):
    operations = v1_operations(app)
    assert ("POST", "/v1/jobs") in operations and ("GET", "/v1/keys") in operations
    revoked = key(app, "gone")
    app.state.store.revoke_key("gone")
    unknown = "gf_0123abcd_" + "x" * 43  # the shape of a key, but none was made
    bad_headers = {
        "no key": {},
        "malformed key": {"Authorization": "Bearer not-a-key"},
        "unknown key": {"Authorization": f"Bearer {unknown}"},
        "empty bearer": {"Authorization": "Bearer "},
        "other scheme": {"Authorization": f"Basic {revoked['Authorization'].split()[1]}"},
        "revoked key": revoked,
        "session cookie of nobody": {"Cookie": f"{SESSION_COOKIE}=forged"},
    }
    wrong = []
    for method, path in operations:
        for what, headers in bad_headers.items():
            r = call(client, method, concrete(path), headers)
            ok = (r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
                  and r.headers.get("www-authenticate") == "Bearer")
            if not ok:
                wrong.append(f"{method} {path} with {what}: {r.status_code} {r.text[:100]}")
    assert not wrong, "\n".join(wrong)
    assert client.get("/v1/health").status_code == 200  # the one public route


def test_another_keys_jobs_uploads_and_results_are_forbidden(app, client, tmp_path):
    alice, bob, admin = key(app, "alice"), key(app, "bob"), key(app, "root", admin=True)
    upload_id = upload(client, alice, ("a.png", png_bytes(16, 16)))[0]["id"]
    job = client.post("/v1/jobs", json=SMALL_JOB, headers=alice).json()
    assert wait_for(client, job["id"], alice)["status"] == "succeeded"

    ids = {"job_id": job["id"], "upload_id": upload_id}
    checked = []
    for method, path in v1_operations(app):
        names = set(re.findall(r"\{(\w+)\}", path))
        if not names & ids.keys():
            continue
        url = concrete(path, **ids)
        r = call(client, method, url, bob)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), (method, url, r.text)
        assert job["id"] not in r.text and "a.png" not in r.text
        assert call(client, method, url, alice).status_code in (200, 202, 409), (method, url)  # the owner may
        checked.append((method, path))
    assert {("GET", "/v1/jobs/{job_id}/events"), ("DELETE", "/v1/jobs/{job_id}"),
            ("GET", "/v1/jobs/{job_id}/results/{index}"), ("GET", "/v1/jobs/{job_id}/results.zip"),
            ("GET", "/v1/uploads/{upload_id}")} <= set(checked)

    assert [j["id"] for j in client.get("/v1/jobs", headers=bob).json()["jobs"]] == []
    assert client.get(f"/v1/jobs/{job['id']}", headers=admin).status_code == 200  # an admin sees every job
    r = client.post("/v1/jobs", json={"tool": "upscale", "model": "photo-upscale-x2", "inputs": [upload_id]},
                    headers=bob)  # nor can another key use the upload as an input
    assert (r.status_code, r.json()["error"]["field"]) == (422, "inputs[0]")


def test_key_routes_are_for_admins_only(app, client):
    plain, admin = key(app, "plain"), key(app, "root", admin=True)
    operations = v1_operations(app, "/v1/keys")
    assert len(operations) >= 3
    for method, path in operations:
        body = {"json": {"name": "mallory", "admin": True}} if method == "POST" else {}
        r = call(client, method, concrete(path, name="root"), plain, **body)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden"), (method, path, r.text)
        assert "not an admin key" in r.json()["error"]["message"]
    assert app.state.store.key_by_name("mallory") is None and not app.state.store.key_by_name("root").revoked

    made = client.post("/v1/keys", json={"name": "carol", "rate": "5/s", "images_per_day": 10}, headers=admin)
    assert made.status_code == 201 and KEY_RE.match(made.json()["secret"])
    carol = {"Authorization": f"Bearer {made.json()['secret']}"}
    assert client.get("/v1/usage", headers=carol).json()["images_today"]["limit"] == 10
    listed = client.get("/v1/keys", headers=admin)
    assert {k["name"] for k in listed.json()["keys"]} == {"plain", "root", "carol"}
    assert made.json()["secret"] not in listed.text and "secret" not in listed.text
    for body, field in (({"name": "carol"}, "name"), ({"name": "dave", "rate": "fast"}, "rate"),
                        ({"name": "../x"}, "name"), ({"name": "eve", "colour": 1}, "colour"),
                        ({"name": "frank", "admin": 1}, "admin"),  # JSON types as documented, not coerced
                        ({"name": "gil", "images_per_day": "9"}, "images_per_day"),
                        ({"name": "hal", "images_per_day": 10**30}, "images_per_day"),  # no 500 from SQLite
                        ({"name": "ivy", "rate": f"{10**20}/min"}, "rate")):
        r = client.post("/v1/keys", json=body, headers=admin)
        assert r.status_code in (409, 422) and r.json()["error"]["field"] == field, (body, r.text)
    assert client.delete("/v1/keys/carol", headers=admin).status_code == 204
    assert client.get("/v1/usage", headers=carol).status_code == 401
    assert client.delete("/v1/keys/carol", headers=admin).status_code == 404


def _fresh_window(seconds: int = 60, margin: float = 3.0) -> None:
    """Wait for a new fixed rate window if the current one ends within ``margin`` seconds."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.05)


def test_requests_past_the_rate_get_429_with_retry_after(app, client):
    slow, other = key(app, "slow", rate="3/min"), key(app, "other", rate="3/min")
    _fresh_window()
    assert [client.get("/v1/usage", headers=slow).status_code for _ in range(3)] == [200, 200, 200]
    for method, url in (("GET", "/v1/usage"), ("GET", "/v1/tools"), ("POST", "/v1/jobs")):
        r = call(client, method, url, slow, **({"json": SMALL_JOB} if method == "POST" else {}))
        assert (r.status_code, r.json()["error"]["code"]) == (429, "rate_limited"), r.text
        assert 1 <= int(r.headers["retry-after"]) <= 60 and "3 requests in 60 s" in r.json()["error"]["message"]
    assert app.state.store.jobs(None) == []  # the refused POST queued nothing
    assert client.get("/v1/usage", headers=other).json()["requests"] == {  # another key has its own count
        "limit": 3, "used": 1, "window_seconds": 60, "resets_at": pytest.approx(time.time() // 60 * 60 + 60, abs=60)}


def test_images_past_the_daily_limit_get_429_and_usage_shows_them(app, client):
    capped = key(app, "capped", images_per_day=3)
    ok = client.post("/v1/jobs", json={**SMALL_JOB, "params": {"seeds": [1, 2], "count": 1}}, headers=capped)
    assert ok.status_code == 202
    over = client.post("/v1/jobs", json={**SMALL_JOB, "params": {"seeds": [3, 4], "count": 1}}, headers=capped)
    assert (over.status_code, over.json()["error"]["code"]) == (429, "rate_limited")
    assert 0 < int(over.headers["retry-after"]) <= 86400
    assert "1 of its 3 images left today" in over.json()["error"]["message"]
    images = client.get("/v1/usage", headers=capped).json()["images_today"]
    assert (images["limit"], images["used"], images["window_seconds"]) == (3, 2, 86400)
    assert client.post("/v1/jobs", json=SMALL_JOB, headers=capped).status_code == 202  # the last one fits
    assert client.get("/v1/usage", headers=capped).json()["images_today"]["used"] == 3
    assert client.post("/v1/jobs", json=SMALL_JOB, headers=capped).status_code == 429


def test_keys_are_stored_hashed(app, client, tmp_path, monkeypatch, capsys):
    admin = key(app, "root", admin=True)
    secrets_ = [admin["Authorization"].split()[1],
                client.post("/v1/keys", json={"name": "api-made"}, headers=admin).json()["secret"]]
    code, out, _ = run_cli(monkeypatch, capsys, "keys", "create", "cli-made", "--data-dir", tmp_path / "studio")
    assert code == 0
    secrets_.append(out.strip())
    stored = b"".join(p.read_bytes() for p in (tmp_path / "studio").rglob("*") if p.is_file())
    for secret in secrets_:
        assert KEY_RE.match(secret)
        assert secret.encode() not in stored and secret.split("_", 2)[2].encode() not in stored
        assert digest(secret).encode() in stored  # what is stored instead (so this test can fail)


def test_signin_link_works_once_and_gives_a_strict_http_only_cookie(app, client):
    token = signin_token(app.state.store, owner_key(app.state.store), minutes=10)
    r = client.get(f"/signin?token={token}", follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie and token not in cookie
    me = client.get("/v1/session").json()  # the client keeps the cookie
    assert me["key"] == OWNER and me["admin"] and len(me["csrf_token"]) > 20

    again = TestClient(app).get(f"/signin?token={token}", follow_redirects=False)
    assert again.status_code == 401 and "cannot be used" in again.text and "set-cookie" not in again.headers
    assert TestClient(app).get("/signin?token=made-up", follow_redirects=False).status_code == 401


def test_signin_link_expires(app, client):
    token = signin_token(app.state.store, owner_key(app.state.store), minutes=0.5 / 60)  # half a second
    time.sleep(0.6)
    r = client.get(f"/signin?token={token}", follow_redirects=False)
    assert r.status_code == 401 and SESSION_COOKIE not in client.cookies


def test_secure_cookies_setting_marks_the_cookie_secure(tmp_path):
    app = make_app(tmp_path / "studio", secure_cookies=True)
    token = signin_token(app.state.store, owner_key(app.state.store), minutes=10)
    cookie = TestClient(app).get(f"/signin?token={token}", follow_redirects=False).headers["set-cookie"]
    assert "Secure" in cookie


def _signed_in(app, client) -> str:
    token = signin_token(app.state.store, owner_key(app.state.store), minutes=10)
    assert client.get(f"/signin?token={token}", follow_redirects=False).status_code == 303
    return client.get("/v1/session").json()["csrf_token"]


def test_cookie_requests_that_change_things_need_the_csrf_token_and_this_origin(app, client):
    csrf = _signed_in(app, client)
    store = app.state.store
    refused = [
        ({}, "X-CSRF-Token"),
        ({"X-CSRF-Token": "wrong"}, "X-CSRF-Token"),
        ({"X-CSRF-Token": csrf, "Origin": "https://evil.example"}, "cross-site"),
        ({"X-CSRF-Token": csrf, "Origin": "http://testserver.evil.example"}, "cross-site"),
    ]
    for headers, needle in refused:
        r = client.post("/v1/jobs", json=SMALL_JOB, headers=headers)
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden") and needle in r.text, headers
        r = client.post("/v1/session/signout", headers=headers)
        assert r.status_code == 403
    assert store.jobs(None) == []
    assert client.get("/v1/jobs").status_code == 200  # reading needs no token

    ok = client.post("/v1/jobs", json=SMALL_JOB, headers={"X-CSRF-Token": csrf, "Origin": "http://testserver"})
    assert ok.status_code == 202
    assert client.post("/v1/jobs", json=SMALL_JOB, headers={"X-CSRF-Token": csrf}).status_code == 202
    bearer = key(app, "script")  # a key is no ambient credential: no token or origin needed
    assert client.post("/v1/jobs", json=SMALL_JOB,
                       headers={**bearer, "Origin": "https://elsewhere.example"}).status_code == 202

    assert client.post("/v1/session/signout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/v1/session").status_code == 401


def test_revoking_the_key_ends_its_sessions(app, client, tmp_path, monkeypatch, capsys):
    _signed_in(app, client)
    assert client.get("/v1/session").status_code == 200
    code, _, err = run_cli(monkeypatch, capsys, "keys", "revoke", OWNER, "--data-dir", tmp_path / "studio")
    assert code == 0 and f"revoked key '{OWNER}'" in err
    assert client.get("/v1/session").status_code == 401
    assert app.state.store.query("SELECT COUNT(*) FROM sessions")[0][0] == 0


def test_keys_commands(app, client, tmp_path, monkeypatch, capsys):
    data = ["--data-dir", str(tmp_path / "studio")]

    def ganforge(*args):
        return run_cli(monkeypatch, capsys, *args, *data)

    code, out, err = ganforge("keys", "list")
    assert code == 0 and out == "" and "no keys yet" in err
    code, out, err = ganforge("keys", "create", "ci-bot", "--rate", "10/s", "--images-per-day", "50")
    secret = out.strip()
    assert code == 0 and KEY_RE.match(secret) and len(out.splitlines()) == 1
    assert "created key 'ci-bot' (10/s, 50 images/day)" in err and secret not in err
    assert client.get("/v1/usage", headers={"Authorization": f"Bearer {secret}"}).json()["key"] == "ci-bot"
    code, out, _ = ganforge("keys", "create", "ops", "--admin")
    assert code == 0
    code, out, _ = ganforge("keys", "list")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["ci-bot"][1:] == [secret.split("_")[1], "10/s", "50", "-", "-", "no", "live"]  # no caps of its own
    assert rows["ops"][-2:] == ["yes", "live"] and secret not in out

    code, _, err = ganforge("keys", "revoke", "ci-bot")
    assert code == 0
    assert client.get("/v1/usage", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert ganforge("keys", "list")[1].splitlines()[1].split()[-1] == "revoked"

    for args, needle in ((("keys", "create", "ops"), "a key named 'ops' exists"),
                         (("keys", "create", "bad/name"), "key name 'bad/name'"),
                         (("keys", "create", "x", "--rate", "lots"), "rate 'lots'"),
                         (("keys", "create", "x", "--rate", f"{10**20}/min"), "REQUESTS from 1 to"),
                         (("keys", "revoke", "ci-bot"), "no live key named 'ci-bot'"),
                         (("keys", "revoke", "nobody"), "no live key named 'nobody'")):
        code, _, err = ganforge(*args)
        assert_one_line_error(code, err, needle)

    assert_one_line_error(*ganforge("keys", "link")[::2], "no server has run on")
    code, out, _ = ganforge("keys", "link", "--url", "http://127.0.0.1:8123/")
    link = out.strip()
    assert code == 0 and link.startswith("http://127.0.0.1:8123/signin?token=")
    r = client.get(link.replace("http://127.0.0.1:8123", ""), follow_redirects=False)
    assert r.status_code == 303 and client.get("/v1/session").json()["key"] == OWNER
