"""``GET /api/customers/<id>?before=`` is a timeline id: beyond 64 bits it is a bad query
(400), not a number PostgreSQL refuses (a 500). Found by bench/api_fuzz.py."""

from __future__ import annotations

from scrm.customers.service import contact


def test_a_before_beyond_64_bits_is_400_and_the_largest_is_read(runtime, client, manager):
    with runtime.transaction() as db_session:
        identity, _ = contact(db_session=db_session, channel="mp", external_id="o-before")
    customer_id = identity.customer_id
    response = client.get(f"/api/customers/{customer_id}?before={2**63}", headers=manager)
    assert response.status_code == 400 and response.get_json()["error"] == "bad_query"
    response = client.get(f"/api/customers/{customer_id}?before={2**63 - 1}", headers=manager)
    assert response.status_code == 200 and response.get_json()["timeline"] == []
