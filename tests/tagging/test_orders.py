"""POST /api/orders: idempotent on order_no, validated field by field, on the timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from scrm.customers.models import Customer, CustomerIdentity, Interaction
from tagging import orders as order_service
from tagging.models import CustomerTag, Order
from tagging.schemas import normalise_phone
from tagging.scores import carried_tags

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def create_customer(runtime, *, openid=None, external_userid=None, phone=None, merged_into_id=None) -> int:
    with runtime.transaction() as db_session:
        customer = Customer(phone=phone, merged_into_id=merged_into_id)
        db_session.add(customer)
        db_session.flush()
        for channel, external_id in (("mp", openid), ("work", external_userid)):
            if external_id:
                db_session.add(CustomerIdentity(customer_id=customer.id, channel=channel, external_id=external_id))
        return customer.id


def order_body(**changes):
    body = {
        "order_no": "SO-1001",
        "amount": "199.90",
        "ordered_at": "2026-11-01T18:30:00+08:00",
        "customer": {"openid": "o-amy"},
        "store_code": "S001",
        "guide_code": "G001",
    }
    body.update(changes)
    return body


def counts(runtime) -> tuple[int, int, int]:
    with runtime.transaction() as db_session:
        return (
            db_session.scalar(select(func.count()).select_from(Order)),
            db_session.scalar(select(func.count()).select_from(Interaction)),
            db_session.scalar(select(func.count()).select_from(CustomerTag)),
        )


@pytest.fixture
def amy(frozen):
    return create_customer(frozen, openid="o-amy", external_userid="wm-amy", phone="13800138000")


def test_a_new_order_is_created_and_on_the_timeline(client, auth, frozen, amy):
    response = client.post("/api/orders", json=order_body(), headers=auth("manager"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body == {
        "id": body["id"],
        "order_no": "SO-1001",
        "customer_id": amy,
        "amount": "199.90",
        "ordered_at": "2026-11-01T10:30:00+00:00",
        "store_code": "S001",
        "guide_code": "G001",
        "credited_guide_id": None,  # no guide G001 exists: nobody is credited
        "points_used": 0,
        "refunded_amount": "0.00",
        "created_at": NOW.isoformat(),
        "member": None,  # not a member: no points, no growth
    }
    profile = client.get(f"/api/customers/{amy}", headers=auth("admin")).get_json()
    purchases = [e for e in profile["timeline"] if e["kind"] == "purchase"]
    assert len(purchases) == 1
    assert purchases[0]["payload"] == {
        "order_no": "SO-1001", "amount": "199.90", "store_code": "S001", "guide_code": "G001"
    }
    assert purchases[0]["channel"] == "mp"
    added = {e["payload"]["tag"] for e in profile["timeline"] if e["kind"] == "tag_added"}
    assert added == {"新客", "一般发展客户"}, "the order recomputes the customer's computed tags"


def test_the_same_order_again_is_200_with_the_same_body_and_changes_nothing(client, auth, frozen, amy):
    first = client.post("/api/orders", json=order_body(), headers=auth())
    before = counts(frozen)
    frozen.clock.advance(minutes=10)
    again = client.post("/api/orders", json=order_body(), headers=auth())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert counts(frozen) == before


def test_the_same_order_in_other_words_is_the_same_order(client, auth, frozen, amy):
    assert client.post("/api/orders", json=order_body(), headers=auth()).status_code == 201
    same = order_body(
        order_no="  SO-1001 ",
        amount=199.9,
        ordered_at="2026-11-01T10:30:00Z",
        customer={"phone": "+86 138-0013-8000"},
    )
    assert client.post("/api/orders", json=same, headers=auth()).status_code == 200


@pytest.mark.parametrize(
    "change, field",
    [
        ({"amount": "199.91"}, "amount"),
        ({"ordered_at": "2026-11-01T18:31:00+08:00"}, "ordered_at"),
        ({"store_code": "S002"}, "store_code"),
        ({"guide_code": None}, "guide_code"),
        ({"customer": {"openid": "o-bob"}}, "customer"),
        ({"customer": {"openid": "o-nobody"}}, "customer"),
    ],
)
def test_the_same_order_no_with_other_content_is_a_conflict(client, auth, frozen, amy, change, field):
    create_customer(frozen, openid="o-bob")
    first = client.post("/api/orders", json=order_body(), headers=auth()).get_json()
    before = counts(frozen)
    response = client.post("/api/orders", json=order_body(**change), headers=auth())
    assert response.status_code == 409
    body = response.get_json()
    assert body["error"] == "conflict" and body["fields"] == [field]
    assert body["existing"] == {name: value for name, value in first.items() if name != "member"}
    assert counts(frozen) == before


BAD_FIELDS = [
    ({"order_no": ""}, "order_no"),
    ({"order_no": "x" * 65}, "order_no"),
    ({"order_no": 1001}, "order_no"),
    ({"order_no": "SO\n1"}, "order_no"),
    ({"amount": "0"}, "amount"),
    ({"amount": 0}, "amount"),
    ({"amount": "-5"}, "amount"),
    ({"amount": "1.005"}, "amount"),
    ({"amount": 0.1 + 0.2}, "amount"),
    ({"amount": "10000000.01"}, "amount"),
    ({"amount": 1e20}, "amount"),
    ({"amount": "1e3"}, "amount"),
    ({"amount": "NaN"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": None}, "amount"),
    ({"ordered_at": "2026-11-01T18:30:00"}, "ordered_at"),
    ({"ordered_at": "2026-11-01"}, "ordered_at"),
    ({"ordered_at": "yesterday"}, "ordered_at"),
    ({"ordered_at": 1793500000}, "ordered_at"),
    ({"ordered_at": "2026-11-01T12:05:01Z"}, "ordered_at"),
    ({"ordered_at": "0001-01-01T00:00:00+08:00"}, "ordered_at"),
    ({"ordered_at": "1969-12-31T23:59:59Z"}, "ordered_at"),
    ({"customer": {}}, "customer"),
    ({"customer": {"openid": "o-amy", "phone": "13800138000"}}, "customer"),
    ({"customer": "o-amy"}, "customer"),
    ({"customer": {"unionid": "u1"}}, "customer.unionid"),
    ({"customer": {"phone": "call me"}}, "customer.phone"),
    ({"customer": {"openid": ""}}, "customer.openid"),
    ({"store_code": "S" * 33}, "store_code"),
    ({"guide_code": ""}, "guide_code"),
    ({"coupon": "C1"}, "coupon"),
]


@pytest.mark.parametrize("change, field", BAD_FIELDS)
def test_each_bad_field_is_422_naming_it_and_writes_nothing(client, auth, frozen, amy, change, field):
    before = counts(frozen)
    response = client.post("/api/orders", json=order_body(**change), headers=auth())
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["field"] == field and body["message"].startswith(f"{field}: ")
    assert counts(frozen) == before


@pytest.mark.parametrize("missing", ["order_no", "amount", "ordered_at", "customer"])
def test_a_missing_field_is_422(client, auth, frozen, amy, missing):
    body = order_body()
    del body[missing]
    response = client.post("/api/orders", json=body, headers=auth())
    assert response.status_code == 422 and response.get_json()["field"] == missing


def test_a_little_clock_skew_is_accepted(client, auth, frozen, amy):
    body = order_body(ordered_at="2026-11-01T12:05:00Z", amount=10_000_000)
    assert client.post("/api/orders", json=body, headers=auth()).status_code == 201


@pytest.mark.parametrize(
    "customer",
    [{"openid": "o-amy"}, {"external_userid": "wm-amy"}, {"phone": "13800138000"}, {"phone": "+86 138 0013 8000"}],
)
def test_the_customer_is_found_by_openid_external_userid_or_phone(client, auth, frozen, amy, customer):
    response = client.post("/api/orders", json=order_body(customer=customer), headers=auth())
    assert response.status_code == 201 and response.get_json()["customer_id"] == amy


@pytest.mark.parametrize(
    "customer, field",
    [
        ({"openid": "o-nobody"}, "customer.openid"),
        ({"external_userid": "wm-nobody"}, "customer.external_userid"),
        ({"phone": "13900000000"}, "customer.phone"),
    ],
)
def test_an_unknown_customer_is_422_and_writes_nothing(client, auth, frozen, amy, customer, field):
    before = counts(frozen)
    response = client.post("/api/orders", json=order_body(customer=customer), headers=auth())
    assert response.status_code == 422
    assert response.get_json()["error"] == "unknown_customer" and response.get_json()["field"] == field
    assert counts(frozen) == before


def test_a_phone_two_customers_share_is_422(client, auth, frozen, amy):
    create_customer(frozen, openid="o-twin", phone="13800138000")
    response = client.post("/api/orders", json=order_body(customer={"phone": "13800138000"}), headers=auth())
    assert response.status_code == 422 and "2 customers" in response.get_json()["message"]


def test_a_phone_of_a_merged_customer_finds_the_survivor(client, auth, frozen, amy):
    create_customer(frozen, phone="13800138000", merged_into_id=amy)
    response = client.post("/api/orders", json=order_body(customer={"phone": "13800138000"}), headers=auth())
    assert response.status_code == 201 and response.get_json()["customer_id"] == amy


def test_only_managers_and_admins_post_orders(client, auth, frozen, amy):
    assert client.post("/api/orders", json=order_body()).status_code == 401
    assert client.post("/api/orders", json=order_body(), headers=auth("guide", "G001")).status_code == 403
    assert counts(frozen)[0] == 0


def test_a_body_that_is_not_an_object_is_400(client, auth, frozen):
    response = client.post("/api/orders", data="[1]", content_type="application/json", headers=auth())
    assert response.status_code == 400 and response.get_json()["error"] == "bad_json"


def test_purchase_rules_are_applied_once_per_new_order(client, auth, frozen, amy, monkeypatch):
    calls = []
    monkeypatch.setattr(order_service, "on_purchase", lambda _runtime, _session, customer_id: calls.append(customer_id))
    client.post("/api/orders", json=order_body(), headers=auth())
    client.post("/api/orders", json=order_body(), headers=auth())
    client.post("/api/orders", json=order_body(order_no="SO-1002"), headers=auth())
    assert calls == [amy, amy]


def test_orders_move_the_customer_through_the_classes(client, auth, frozen, amy):
    client.post("/api/orders", json=order_body(order_no="A", amount="300"), headers=auth())
    frozen.clock.advance(days=40)
    a_minute_ago = (frozen.clock.now() - timedelta(minutes=1)).isoformat()
    client.post("/api/orders", json=order_body(order_no="B", amount="300", ordered_at=a_minute_ago), headers=auth())
    with frozen.transaction() as db_session:
        tags = carried_tags(db_session=db_session, customer_id=amy, now=frozen.clock.now())
    carried = {t["group"]: t["tag"] for t in tags}
    assert carried == {"RFM": "重要价值客户", "生命周期": "活跃"}


def test_phones_are_normalised():
    assert normalise_phone("+86 138-0013-8000") == "13800138000"
    assert normalise_phone("(021) 6234 5678") == "02162345678"
    with pytest.raises(ValueError):
        normalise_phone("+1 call me")



def test_a_new_order_fires_purchase_rules_once(runtime, client, auth):
    """A purchase event rule scores the buyer once per order, not per repeat of the post."""
    from sqlalchemy import select

    from scrm.customers import service as customers
    from tagging.models import CustomerTag, Tag, TagGroup

    headers = auth("manager")
    with runtime.transaction() as db_session:
        identity, _ = customers.contact(db_session=db_session, channel="mp", external_id="oBuyerRule")
        group = TagGroup(name="行为", half_life_days=None, threshold=0.5)
        db_session.add(group)
        db_session.flush()
        tag = Tag(group_id=group.id, name="已购")
        db_session.add(tag)
        db_session.flush()
        tag_id = tag.id
    rule = client.post("/api/tag-rules", json={"kind": "event", "pattern": "purchase", "tag_id": tag_id, "weight": 1}, headers=headers)
    assert rule.status_code == 201, rule.get_json()
    body = {
        "order_no": "RULE-1",
        "amount": "88.00",
        "ordered_at": runtime.clock.now().isoformat(),
        "customer": {"openid": "oBuyerRule"},
    }
    assert client.post("/api/orders", json=body, headers=headers).status_code == 201
    assert client.post("/api/orders", json=body, headers=headers).status_code == 200
    with runtime.transaction() as db_session:
        row = db_session.scalars(select(CustomerTag).where(CustomerTag.tag_id == tag_id)).one()
        assert (row.customer_id, row.score) == (identity.customer_id, 1.0)
