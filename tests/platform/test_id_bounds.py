"""Ids as large as their column holds (scrm/web/api.py ``path_ids_fit``, ``query_id_of``;
scrm/validators.py ``IntId``, ``BigIntId``; SPEC §12). PostgreSQL's INTEGER ids end at
2**31-1: a larger number compared with one was an error there (a 500), while SQLite, whose
integers are 64 bits, answered 404. Found by bench/api_fuzz.py; now alike on both."""

from __future__ import annotations

import pytest

BEYOND_INTEGER = 2**31  # fits 64 bits (scrm/web/edge.py lets it through), not PostgreSQL's INTEGER
BEYOND_BIGINT = 2**63


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/campaigns/{}"), ("GET", "/api/campaigns/{}/results"), ("POST", "/api/campaigns/{}/launch"),
    ("POST", "/api/campaigns/{}/pause"), ("POST", "/api/campaigns/{}/cancel"), ("POST", "/api/campaigns/{}/preview"),
    ("GET", "/api/coupon-templates/{}"), ("PATCH", "/api/coupon-templates/{}"), ("PATCH", "/api/coupon-rules/{}"),
    ("PATCH", "/api/tag-groups/{}"), ("DELETE", "/api/tags/{}"), ("GET", "/api/tag-rules/{}"),
    ("DELETE", "/api/tag-rules/{}"), ("GET", "/api/reply-rules/{}"), ("DELETE", "/api/reply-rules/{}"),
    ("DELETE", "/api/customers/1/tags/{}"),
])
def test_a_path_id_beyond_its_integer_column_names_nothing(client, manager, method, path):
    response = client.open(path.format(BEYOND_INTEGER), method=method, json={}, headers=manager)
    assert response.status_code == 404, response.get_data(as_text=True)
    assert response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["/api/tag-rules?tag_id=", "/api/coupons/stats?template_id="])
def test_a_query_id_beyond_its_integer_column_is_400(client, manager, path):
    response = client.get(f"{path}{BEYOND_INTEGER}", headers=manager)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "bad_query"
    assert client.get(f"{path}{BEYOND_INTEGER - 1}", headers=manager).status_code == 200


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/coupons", {"template_id": BEYOND_INTEGER, "customer_id": 1}, "template_id"),
    ("/api/coupons", {"template_id": 1, "customer_id": BEYOND_BIGINT}, "customer_id"),
    ("/api/coupon-rules", {"template_id": BEYOND_INTEGER, "trigger": "binding"}, "template_id"),
    ("/api/journeys/welcome", {"coupon_template_id": BEYOND_INTEGER}, "coupon_template_id"),
    ("/api/events", {"name": "visit", "customer_id": BEYOND_BIGINT}, "customer_id"),
    ("/api/campaigns", {"name": "c", "audience": {}, "channel": "mp_custom", "content": {"kind": "text", "text": "hi"},
                        "schedule": {"kind": "once", "at": "2030-01-01T08:00:00+08:00"},
                        "coupon_template_id": BEYOND_INTEGER}, "coupon_template_id"),
])
def test_a_body_id_beyond_its_column_is_422_naming_the_field(client, manager, path, body, field):
    response = client.post(path, json=body, headers=manager)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.get_json()["field"] == field
