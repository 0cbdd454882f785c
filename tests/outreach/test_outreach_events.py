"""POST /api/events (SPEC §11): custom events validated field by field, recorded once per
event_key, on the customer's timeline."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from coupon_world import make_customer
from guide_world import create_guide, create_store
from platform_world import count
from scrm.customers.models import Customer, Interaction
from scrm.outreach.models import OutreachEvent

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def test_an_event_is_recorded_once_per_key_and_shown_on_the_timeline(frozen, client, auth):
    amy = make_customer(frozen, openid="oAmyEvents", phone="13800138000")
    body = {"name": "cart_abandoned", "customer": {"openid": "oAmyEvents"}, "event_key": "cart-1",
            "occurred_at": "2026-11-02T09:30:00+08:00", "payload": {"sku": "A1", "amount": 199}}
    first = client.post("/api/events", json=body, headers=auth("manager"))
    assert first.status_code == 201, first.get_json()
    event = first.get_json()
    assert (event["customer_id"], event["name"], event["payload"]) == (amy, "cart_abandoned", body["payload"])
    assert event["occurred_at"] == "2026-11-02T01:30:00+00:00"
    again = client.post("/api/events", json=body, headers=auth("admin"))
    assert again.status_code == 200 and again.get_json()["id"] == event["id"]
    by_phone = {**body, "customer": {"phone": "+86 138-0013-8000"}}  # the same customer, named otherwise
    assert client.post("/api/events", json=by_phone, headers=auth()).status_code == 200
    assert count(frozen, OutreachEvent) == 1
    with frozen.transaction() as db_session:
        (entry,) = db_session.scalars(select(Interaction).where(Interaction.customer_id == amy,
                                                                Interaction.kind == "custom_event"))
        assert entry.payload["name"] == "cart_abandoned" and entry.payload["payload"] == body["payload"]
        assert entry.occurred_at.replace(tzinfo=UTC) == datetime(2026, 11, 2, 1, 30, tzinfo=UTC)

    other = client.post("/api/events", json={**body, "name": "membership_renewed"}, headers=auth())
    assert other.status_code == 409 and other.get_json()["error"] == "conflict"


def test_events_without_a_key_are_each_recorded_at_our_time(frozen, client, auth):
    amy = make_customer(frozen)
    for _ in range(2):
        answer = client.post("/api/events", json={"name": "store_visit", "customer_id": amy}, headers=auth())
        assert answer.status_code == 201 and answer.get_json()["occurred_at"] == NOW.isoformat()
    assert count(frozen, OutreachEvent) == 2


def test_an_event_for_a_merged_customer_lands_on_the_survivor(frozen, client, auth):
    survivor, merged = make_customer(frozen), make_customer(frozen)
    with frozen.transaction() as db_session:
        db_session.get(Customer, merged).merged_into_id = survivor
    answer = client.post("/api/events", json={"name": "store_visit", "customer_id": merged}, headers=auth())
    assert answer.get_json()["customer_id"] == survivor


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
@pytest.mark.parametrize(("change", "field"), [
    ({"name": None}, "name"),
    ({"name": "has spaces"}, "name"),
    ({"customer_id": None}, "customer"),
    ({"customer": {"openid": "oX"}}, "customer"),  # and customer_id too
    ({"customer_id": "7"}, "customer_id"),
    ({"occurred_at": "2026-11-02T09:30:00"}, "occurred_at"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"occurred_at": "2026-11-03T09:30:00+08:00"}, "occurred_at"),  # in the future
    ({"event_key": ""}, "event_key"),
    ({"payload": ["not", "an", "object"]}, "payload"),
    ({"payload": {"text": "x" * 9000}}, "payload"),
    ({"colour": "red"}, "colour"),
])
def test_bad_events_are_refused_naming_the_field(frozen, client, auth, change, field):
    amy = make_customer(frozen)
    body = {"name": "cart_abandoned", "customer_id": amy, **change}
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.post("/api/events", json=body, headers=auth())
    assert answer.status_code == 422, answer.get_json()
    assert answer.get_json()["field"] == field
    assert count(frozen, OutreachEvent) == 0


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_unknown_customers_roles_and_bodies(frozen, client, auth):
    unknown = client.post("/api/events", json={"name": "x", "customer": {"openid": "oNobody"}}, headers=auth())
    assert unknown.status_code == 422 and unknown.get_json()["error"] == "unknown_customer"
    assert unknown.get_json()["field"] == "customer.openid"
    missing = client.post("/api/events", json={"name": "x", "customer_id": 999}, headers=auth())
    assert missing.status_code == 422 and missing.get_json()["field"] == "customer_id"
    create_store(frozen)
    create_guide(frozen, "G1")
    as_guide = auth("guide", "G1")
    assert client.post("/api/events", json={"name": "x", "customer_id": 1}, headers=as_guide).status_code == 403
    assert client.post("/api/events", json={"name": "x", "customer_id": 1}).status_code == 401
    assert client.post("/api/events", data="[1]", headers=auth(), content_type="application/json").status_code == 400
