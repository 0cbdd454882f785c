"""``GET /api/openapi.json`` describes every API route, with the bodies routes validate."""

from __future__ import annotations

import re

import pytest

from scrm.web.openapi import BODIES, CSV_BODIES


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_every_api_route_is_described_with_its_body(app, client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (path, method.lower()) in described, (path, method)
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(BODIES) | CSV_BODIES <= endpoints  # a renamed view is noticed here
    guide = spec["paths"]["/api/guides"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][guide.rsplit("/", 1)[1]]
    assert {"code", "name", "store", "wecom_userid"} <= set(schema["required"])
    assert spec["paths"]["/api/guides/{code}/qrcode.png"]["get"]["parameters"][0]["name"] == "code"
    assert "text/csv" in spec["paths"]["/api/guides/import"]["post"]["requestBody"]["content"]
