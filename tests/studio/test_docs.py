"""The OpenAPI page works offline: Swagger UI's files come from the studio, not a CDN."""

from __future__ import annotations

import re

from .conftest import key


def test_docs_page_loads_its_files_from_the_studio(client):
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert sources, page.text
    for url in sources:
        assert url.startswith("/"), f"/docs loads {url} from elsewhere"
        assert client.get(url).status_code == 200, url
    assert any(u.endswith("swagger-ui-bundle.js") for u in sources)


def test_openapi_documents_every_v1_route_with_its_errors(client, app):
    spec = client.get("/openapi.json").json()
    v1 = {path: ops for path, ops in spec["paths"].items() if path.startswith("/v1")}
    assert {"/v1/tools", "/v1/uploads", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events",
            "/v1/usage", "/v1/keys"} <= set(v1)
    for path, ops in v1.items():
        for method, op in ops.items():
            if path != "/v1/health":
                assert "401" in op["responses"], f"{method.upper()} {path} does not document 401"
                assert "429" in op["responses"], f"{method.upper()} {path} does not document 429"
    assert "ErrorBody" in spec["components"]["schemas"]
    assert spec["components"]["securitySchemes"]["API key"]["scheme"] == "bearer"  # /docs can send a key
    assert all(op.get("security") for path, ops in v1.items() if path != "/v1/health" for op in ops.values())
    key(app)  # the spec needs no key, and making one changes nothing in it
    assert client.get("/openapi.json").json() == spec
