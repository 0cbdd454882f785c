"""What every request meets before a route (scrm/web/edge.py, SPEC §12): ids beyond 64 bits
name nothing (404), NUL characters are refused (400), query ids are bounded (400), and every
answer carries the security headers. Alike on SQLite and PostgreSQL: PostgreSQL used to
answer these with 500."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tagging.models import TagGroup

BEYOND_64_BITS = str(2**63)


@pytest.mark.parametrize("path", [
    f"/api/customers/{BEYOND_64_BITS}", f"/api/campaigns/{BEYOND_64_BITS}", f"/api/campaigns/{BEYOND_64_BITS}/results",
    f"/api/coupon-templates/{BEYOND_64_BITS}", f"/api/tag-rules/{BEYOND_64_BITS}", f"/api/reply-rules/{10**30}",
])
def test_an_id_beyond_64_bits_names_nothing(client, manager, path):
    assert client.get(path, headers=manager).status_code == 404


@pytest.mark.parametrize("path", [f"/api/campaigns/{BEYOND_64_BITS}/pause", f"/api/campaigns/{BEYOND_64_BITS}/launch",
                                  f"/api/campaigns/{BEYOND_64_BITS}/cancel"])
def test_a_write_to_an_id_beyond_64_bits_is_404(client, manager, path):
    assert client.post(path, headers=manager).status_code == 404


def test_the_largest_id_is_looked_up_and_not_found(client, manager):
    response = client.get(f"/api/customers/{2**63 - 1}", headers=manager)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["/api/coupons?customer_id=", "/api/coupons/attempts?coupon_id=",
                                  "/api/tag-rules?tag_id=", "/api/coupons/stats?template_id="])
@pytest.mark.parametrize("value", [BEYOND_64_BITS, "-1", "1.5", "１２"])
def test_a_query_id_that_is_not_a_64_bit_whole_number_is_400(client, manager, path, value):
    response = client.get(path + value, headers=manager)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "bad_query"


@pytest.mark.parametrize("path", ["/api/customers?q=a%00b", "/api/audience?expr=%00", "/console/customers?q=%00",
                                  "/api/coupons?customer_id=1%00"])
def test_a_nul_in_the_query_is_400(client, manager, path):
    response = client.get(path, headers=manager)
    assert response.status_code == 400 and "NUL" in response.get_json()["message"]


def test_a_nul_in_a_json_body_is_422_naming_the_field_and_changes_nothing(runtime, client, manager):
    for body, field in (('{"name": "a\\u0000b", "half_life_days": 7}', "name"),
                        ('{"name": "兴趣", "tags": [{"x": 1}, {"n\\u0000": 2}]}', "tags.1.n\x00")):
        response = client.post("/api/tag-groups", data=body, content_type="application/json", headers=manager)
        assert response.status_code == 422 and "NUL" in response.get_json()["message"]
        assert response.get_json()["field"] == field
    with runtime.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(TagGroup)) == 0
    made = client.post("/api/tag-groups", json={"name": "兴趣", "half_life_days": 7}, headers=manager)
    assert made.status_code == 201, made.get_json()


def test_a_nul_in_a_form_is_400(client):
    response = client.post("/login", data={"token": "scrm_\x00"})
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/login", "/healthz", "/api/users", "/sandbox/phone"])
def test_every_answer_carries_the_security_headers(client, path):
    headers = client.get(path).headers
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"] == "frame-ancestors 'none'"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
