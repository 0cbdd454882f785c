"""``GET /api/coupons/attempts?limit=`` is a whole number from 1 to 500 (400 otherwise): a
negative one went to the database as ``LIMIT -1``, which PostgreSQL refuses (a 500) and
SQLite reads as no limit. Found by bench/api_fuzz.py."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("limit", ["-1", "0", "501", "abc", "1.5"])
def test_a_limit_out_of_bounds_is_400(client, manager, limit):
    response = client.get(f"/api/coupons/attempts?limit={limit}", headers=manager)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"] == "bad_query"


@pytest.mark.parametrize("limit", ["1", "500"])
def test_a_limit_within_bounds_lists(client, manager, limit):
    response = client.get(f"/api/coupons/attempts?limit={limit}", headers=manager)
    assert response.status_code == 200 and response.get_json() == {"attempts": []}
