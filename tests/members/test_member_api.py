"""The members' JSON API (scrm/members/routes.py) on both backends: who may call what (a guide
only for their own customers, a member only for themselves and with the CSRF token), bad input
refused with 4xx and nothing written, retried keys answering the first change, pagination."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from coupon_world import make_customer, make_template
from guide_world import create_guide, create_store, guide_id
from guides.models import Binding
from member_world import grant, make_member
from scrm.coupons.customer_pages import SIGNED_IN
from scrm.coupons.models import Coupon
from scrm.members.models import Checkin, MallExchange, MallItem, PointEntry

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
HUGE = 2**63  # beyond every id column


def count(runtime, model, *where) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(model).where(*where))


def sign_in_member(runtime, client, customer_id: int) -> None:  # noqa: ANN001
    """The /c/ pages' sign-in, as the account's link leaves it in the browser."""
    with client.session_transaction() as held:
        held[SIGNED_IN] = {"c": customer_id, "at": int(runtime.clock.timestamp())}


def csrf(client) -> dict[str, str]:  # noqa: ANN001
    return {"X-CSRFToken": client.csrf_token()}


def bind(runtime, customer_id: int, guide_code: str) -> None:  # noqa: ANN001
    with runtime.transaction() as db_session:
        db_session.add(Binding(customer_id=customer_id, guide_id=guide_id(runtime, guide_code), channel="mp",
                               bound_at=NOW))


def new_item(client, headers, **fields):  # noqa: ANN001, ANN003, ANN201
    return client.post("/api/points-mall/items", json={"name": "满100减20券", "points": 10, **fields},
                       headers=headers)


@pytest.fixture
def item(frozen, client, manager) -> int:  # noqa: ANN001
    response = new_item(client, manager, template_id=make_template(frozen), stock=3)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


# ---- the member card and the ledger ----------------------------------------------------------


def test_the_member_card_for_managers_and_the_guide_of_the_customer_only(frozen, client, manager, auth):
    member = make_member(frozen, phone="13812345678")
    grant(frozen, member, 30)
    card = client.get(f"/api/members/{member}", headers=manager)
    assert card.status_code == 200
    body = card.get_json()
    assert (body["phone"], body["level"]["name"], body["next_level"]["name"], body["growth_to_next"]) == (
        "13812345678", "普通", "银卡", 1000)
    assert body["points"] == {"total": 30, "available": 30, "frozen": 0, "expiring": 0, "expiring_at": None}
    assert body["checkin"] == {"checked_today": False, "streak": 0, "next_bonus": {"streak": 3, "points": 5}}
    create_store(frozen)
    create_guide(frozen, "G1")
    create_guide(frozen, "G2")
    assert client.get(f"/api/members/{member}", headers=auth("guide", "G1")).status_code == 403
    bind(frozen, member, "G1")
    mine = client.get(f"/api/members/{member}", headers=auth("guide", "G1"))
    assert mine.status_code == 200 and mine.get_json()["phone"] == "138****5678"
    assert client.get(f"/api/members/{member}", headers=auth("guide", "G2")).status_code == 403
    assert client.get(f"/api/members/{member}").status_code == 401


def test_a_customer_who_has_not_joined_or_an_id_too_large_is_404(frozen, client, manager):
    stranger = make_customer(frozen)
    answer = client.get(f"/api/members/{stranger}", headers=manager)
    assert answer.status_code == 404 and answer.get_json()["error"] == "not_a_member"
    assert client.get(f"/api/members/{HUGE}", headers=manager).status_code == 404
    assert client.get(f"/api/members/{HUGE}/points", headers=manager).status_code == 404
    assert client.get(f"/api/members/{stranger}/points", headers=manager).get_json()["error"] == "not_a_member"


def test_the_ledger_newest_first_a_page_at_a_time(frozen, client, manager):
    member = make_member(frozen)
    ids = [grant(frozen, member, n + 1) for n in range(25)]
    pages = [client.get(f"/api/members/{member}/points?page={p}&per_page=10", headers=manager).get_json()
             for p in (1, 2, 3)]
    assert [e["id"] for page in pages for e in page["entries"]] == ids[::-1]
    assert [(p["total"], p["has_more"], len(p["entries"])) for p in pages] == [(25, True, 10), (25, True, 10),
                                                                             (25, False, 5)]
    first = pages[0]["entries"][0]
    assert (first["amount"], first["kind"], first["balance_after"], first["remaining"]) == (25, "grant", 325, 25)
    for query in ("per_page=101", "per_page=0", "page=0", "page=abc", "page=10001", "per_page=1e3"):
        answer = client.get(f"/api/members/{member}/points?{query}", headers=manager)
        assert answer.status_code == 400 and answer.get_json()["error"] == "bad_query", query


# ---- a manager's grant or deduction ----------------------------------------------------------


def test_a_grant_and_a_deduction_once_per_key(frozen, client, manager, auth):
    member = make_member(frozen)
    url = f"/api/members/{member}/points"
    first = client.post(url, json={"amount": 100, "reason": "补偿", "key": "g-1"}, headers=manager)
    assert first.status_code == 201
    again = client.post(url, json={"amount": 100, "reason": "补偿", "key": "g-1"}, headers=manager)
    assert again.status_code == 200 and again.get_json()["entry"]["id"] == first.get_json()["entry"]["id"]
    assert again.get_json()["created"] is False and again.get_json()["points"]["total"] == 100
    taken = client.post(url, json={"amount": -40, "reason": "误发", "key": "d-1"}, headers=manager)
    assert taken.status_code == 201 and taken.get_json()["entry"]["kind"] == "deduct"
    too_much = client.post(url, json={"amount": -61, "reason": "误发", "key": "d-2"}, headers=manager)
    assert too_much.status_code == 409 and too_much.get_json()["error"] == "not_enough_points"
    assert too_much.get_json()["available"] == 60
    reused = client.post(url, json={"amount": 5, "reason": "x", "key": "g-1"}, headers=manager)
    assert reused.status_code == 409 and reused.get_json()["error"] == "key_reused"
    assert client.post(url, json={"amount": 1, "reason": "x", "key": "g-9"}, headers=auth("guide", "G1")
                       ).status_code == 403
    assert client.post(url, json={"amount": 1, "reason": "x", "key": "g-9"}).status_code == 401
    assert count(frozen, PointEntry) == 2
    stranger = make_customer(frozen)
    assert client.post(f"/api/members/{stranger}/points", json={"amount": 1, "reason": "x", "key": "k"},
                       headers=manager).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"amount": 0, "reason": "r", "key": "k"}, "amount"),
    ({"amount": 1_000_001, "reason": "r", "key": "k"}, "amount"),
    ({"amount": "10", "reason": "r", "key": "k"}, "amount"),
    ({"amount": 1.5, "reason": "r", "key": "k"}, "amount"),
    ({"amount": True, "reason": "r", "key": "k"}, "amount"),
    ({"amount": 10, "reason": "", "key": "k"}, "reason"),
    ({"amount": 10, "reason": "长" * 201, "key": "k"}, "reason"),
    ({"amount": 10, "reason": "a\u0000b", "key": "k"}, "reason"),
    ({"amount": 10, "reason": "r", "key": "with space"}, "key"),
    ({"amount": 10, "reason": "r", "key": "k" * 65}, "key"),
    ({"amount": 10, "reason": "r"}, "key"),
    ({"amount": 10, "reason": "r", "key": "k", "extra": 1}, "extra"),
])
def test_bad_points_changes_are_422_and_change_nothing(frozen, client, manager, body, field):
    member = make_member(frozen)
    answer = client.post(f"/api/members/{member}/points", json=body, headers=manager)
    assert answer.status_code == 422 and answer.get_json()["field"] == field, answer.get_json()
    assert count(frozen, PointEntry) == 0


@pytest.mark.parametrize("raw", ['{"amount": NaN, "reason": "r", "key": "k"}',
                                 '{"amount": 1e999, "reason": "r", "key": "k"}',
                                 '{"amount": Infinity, "reason": "r", "key": "k"}'])
def test_nan_and_infinite_amounts_are_refused(frozen, client, manager, raw):
    member = make_member(frozen)
    answer = client.post(f"/api/members/{member}/points", data=raw, content_type="application/json",
                         headers=manager)
    assert answer.status_code in (400, 422) and "error" in answer.get_json()
    assert count(frozen, PointEntry) == 0


# ---- the mall's items ------------------------------------------------------------------------


def test_items_are_written_by_managers_and_read_by_anyone_signed_in(frozen, client, manager, auth, item):
    guide = auth("guide", "G1")
    assert new_item(client, guide, template_id=make_template(frozen)).status_code == 403
    assert new_item(client, {}, template_id=make_template(frozen)).status_code == 401
    listed = client.get("/api/points-mall/items", headers=guide)
    assert listed.status_code == 200
    assert [(i["id"], i["stock_left"], i["available"]) for i in listed.get_json()["items"]] == [(item, 3, True)]
    assert client.get("/api/points-mall/items").status_code == 401
    assert client.get("/api/points-mall/items?include_paused=1", headers=guide).status_code == 403
    paused = client.patch(f"/api/points-mall/items/{item}", json={"status": "paused"}, headers=manager)
    assert paused.status_code == 200 and paused.get_json()["why_not"] == "暂停兑换"
    assert client.get("/api/points-mall/items", headers=manager).get_json()["items"] == []
    everything = client.get("/api/points-mall/items?include_paused=true", headers=manager).get_json()["items"]
    assert [i["status"] for i in everything] == ["paused"]
    assert client.patch(f"/api/points-mall/items/{item}", json={"status": "active"}, headers=guide).status_code == 403
    assert client.get("/api/points-mall/items?include_paused=maybe", headers=manager).status_code == 400


def test_a_member_reads_the_mall_in_their_own_words(frozen, client, manager, item):
    member = make_member(frozen)
    grant(frozen, member, 5)
    sign_in_member(frozen, client, member)
    mine = client.get("/api/points-mall/items").get_json()["items"]
    assert [(i["available"], i["why_not"], i["why_not_code"]) for i in mine] == [(False, "积分不足", "not_enough_points")]
    as_manager = client.get(f"/api/points-mall/items?customer_id={member}", headers=manager).get_json()["items"]
    assert as_manager[0]["why_not"] == "积分不足"
    assert client.get(f"/api/points-mall/items?customer_id={HUGE}", headers=manager).status_code == 400


@pytest.mark.parametrize(("body", "field"), [
    ({"template_id": 999}, "template_id"),
    ({"template_id": 2**31}, "template_id"),
    ({"min_level_id": 999}, "min_level_id"),
    ({"name": "x" * 65}, "name"),
    ({"name": "a\u0000"}, "name"),
    ({"points": 0}, "points"),
    ({"points": 10_000_001}, "points"),
    ({"stock": -1}, "stock"),
    ({"per_member_limit": 1001}, "per_member_limit"),
    ({"status": "closed"}, "status"),
    ({"sort": 1.5}, "sort"),
])
def test_bad_items_are_422_and_write_nothing(frozen, client, manager, body, field):
    fields = {"template_id": make_template(frozen), **body}
    answer = new_item(client, manager, **fields)
    assert answer.status_code == 422 and answer.get_json()["field"] == field, answer.get_json()
    assert count(frozen, MallItem) == 0


def test_a_change_of_an_item_is_checked_too(frozen, client, manager, item):
    url = f"/api/points-mall/items/{item}"
    member = make_member(frozen)
    grant(frozen, member, 100)
    for key in ("a", "b"):
        assert client.post("/api/points-mall/exchange", json={"item_id": item, "key": key, "customer_id": member},
                           headers=manager).status_code == 201
    below = client.patch(url, json={"stock": 1}, headers=manager)
    assert below.status_code == 422 and below.get_json()["error"] == "stock_below_exchanged"
    assert client.patch(url, json={"points": None}, headers=manager).status_code == 422
    assert client.patch(url, json={"min_level_id": 999}, headers=manager).status_code == 422
    cleared = client.patch(url, json={"stock": None, "name": "新名字"}, headers=manager).get_json()
    assert (cleared["stock"], cleared["stock_left"], cleared["name"], cleared["exchanged_count"]) == (
        None, None, "新名字", 2)
    assert client.patch(f"/api/points-mall/items/{item + 1}", json={"sort": 1}, headers=manager).status_code == 404
    assert client.patch(f"/api/points-mall/items/{2**31}", json={"sort": 1}, headers=manager).status_code == 404


# ---- exchanging ------------------------------------------------------------------------------


def test_a_member_exchanges_with_their_own_session_and_the_csrf_token(frozen, client, item):
    member = make_member(frozen)
    grant(frozen, member, 25)
    sign_in_member(frozen, client, member)
    body = {"item_id": item, "key": "tap-1"}
    forged = client.post("/api/points-mall/exchange", json=body)
    assert forged.status_code == 403 and forged.get_json()["error"] == "csrf_failed"
    assert count(frozen, MallExchange) == 0
    done = client.post("/api/points-mall/exchange", json=body, headers=csrf(client))
    assert done.status_code == 201
    answer = done.get_json()
    assert (answer["points"], answer["created"], answer["points_available"]) == (10, True, 15)
    again = client.post("/api/points-mall/exchange", json=body, headers=csrf(client))
    assert again.status_code == 200 and again.get_json()["coupon_id"] == answer["coupon_id"]
    with frozen.transaction() as db_session:
        coupon = db_session.get(Coupon, answer["coupon_id"])
        assert (coupon.customer_id, coupon.source) == (member, "exchange")
    other = make_member(frozen)
    someone_else = client.post("/api/points-mall/exchange", json={**body, "customer_id": other}, headers=csrf(client))
    assert someone_else.status_code == 403
    assert count(frozen, MallExchange) == 1 and count(frozen, Coupon) == 1


def test_a_manager_exchanges_for_a_member_a_guide_cannot(frozen, client, manager, auth, item):
    member = make_member(frozen)
    grant(frozen, member, 15)
    url = "/api/points-mall/exchange"
    no_one = client.post(url, json={"item_id": item, "key": "k"}, headers=manager)
    assert no_one.status_code == 422 and no_one.get_json()["field"] == "customer_id"
    assert client.post(url, json={"item_id": item, "customer_id": member}, headers=auth("guide", "G1")
                       ).status_code == 403
    assert client.post(url, json={"item_id": item, "customer_id": member}).status_code == 401
    assert client.post(url, json={"item_id": item, "customer_id": member},
                       headers={"Authorization": "Bearer nonsense"}).status_code == 401
    done = client.post(url, json={"item_id": item, "customer_id": member}, headers=manager)
    assert done.status_code == 201
    with frozen.transaction() as db_session:
        record = db_session.get(MallExchange, done.get_json()["exchange_id"])
        assert record.created_by.startswith("manager-")
    poor = client.post(url, json={"item_id": item, "customer_id": member}, headers=manager)
    assert poor.status_code == 409 and poor.get_json()["error"] == "not_enough_points"
    assert client.post(url, json={"item_id": item + 1, "customer_id": member}, headers=manager
                       ).get_json()["error"] == "item_not_found"
    stranger = make_customer(frozen)
    assert client.post(url, json={"item_id": item, "customer_id": stranger}, headers=manager
                       ).get_json()["error"] == "not_a_member"
    assert count(frozen, MallExchange) == 1


@pytest.mark.parametrize(("body", "field"), [
    ({"item_id": 2**31}, "item_id"),
    ({"item_id": "1"}, "item_id"),
    ({"item_id": 1, "customer_id": HUGE}, "customer_id"),
    ({"item_id": 1, "key": ""}, "key"),
    ({"item_id": 1, "key": "k" * 65}, "key"),
    ({"item_id": 1, "key": "a\u0000"}, "key"),
    ({"item_id": 1, "surprise": True}, "surprise"),
    ({}, "item_id"),
])
def test_bad_exchanges_are_422(frozen, client, manager, body, field):
    member = make_member(frozen)
    answer = client.post("/api/points-mall/exchange", json={"customer_id": member, **body}, headers=manager)
    assert answer.status_code == 422 and answer.get_json()["field"] == field, answer.get_json()


def test_out_of_stock_is_409_and_writes_nothing(frozen, client, manager):
    item = new_item(client, manager, template_id=make_template(frozen), stock=0).get_json()["id"]
    member = make_member(frozen)
    grant(frozen, member, 100)
    answer = client.post("/api/points-mall/exchange", json={"item_id": item, "customer_id": member}, headers=manager)
    assert answer.status_code == 409 and answer.get_json()["error"] == "out_of_stock"
    assert count(frozen, MallExchange) == count(frozen, Coupon) == 0
    assert count(frozen, PointEntry, PointEntry.amount < 0) == 0


# ---- checking in ------------------------------------------------------------------------------


def test_a_member_checks_in_once_a_day_with_their_session(frozen, client):
    member = make_member(frozen)
    sign_in_member(frozen, client, member)
    assert client.post("/api/members/checkin", json={}).status_code == 403  # no CSRF token
    first = client.post("/api/members/checkin", headers=csrf(client))  # no body at all
    assert first.status_code == 201
    assert first.get_json() == {"day": "2026-12-07", "streak": 1, "points": 5, "bonus": 0, "growth": 1,
                                "created": True, "level_up": None}
    again = client.post("/api/members/checkin", json={}, headers=csrf(client))
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert count(frozen, Checkin) == 1 and count(frozen, PointEntry) == 1


def test_a_manager_checks_in_for_a_member_and_strangers_are_refused(frozen, client, manager, auth):
    member = make_member(frozen)
    done = client.post("/api/members/checkin", json={"customer_id": member}, headers=manager)
    assert done.status_code == 201
    assert client.post("/api/members/checkin", json={}, headers=manager).status_code == 422
    assert client.post("/api/members/checkin", json={"customer_id": member},
                       headers=auth("guide", "G1")).status_code == 403
    assert client.post("/api/members/checkin", json={"customer_id": member}).status_code == 401
    stranger = make_customer(frozen)
    refused = client.post("/api/members/checkin", json={"customer_id": stranger}, headers=manager)
    assert refused.status_code == 404 and refused.get_json()["error"] == "not_a_member"
    assert client.post("/api/members/checkin", json={"customer_id": HUGE}, headers=manager).status_code == 422
    assert client.post("/api/members/checkin", json={"customer_id": 1.0}, headers=manager).status_code == 422
    not_json = client.post("/api/members/checkin", data="customer_id=1", headers=manager,
                           content_type="application/x-www-form-urlencoded")
    assert not_json.status_code == 415
    assert count(frozen, Checkin) == 1


# ---- what /api/openapi.json says --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_real_answers_fit_the_schemas_described(frozen, client, manager):
    import jsonschema_rs

    spec = client.get("/api/openapi.json").get_json()
    member = make_member(frozen)
    grant(frozen, member, 50)
    item = new_item(client, manager, template_id=make_template(frozen), stock=3)
    calls = [
        ("post", "/api/points-mall/items", lambda: item),
        ("get", "/api/members/{customer_id}", lambda: client.get(f"/api/members/{member}", headers=manager)),
        ("post", "/api/members/{customer_id}/points", lambda: client.post(
            f"/api/members/{member}/points", json={"amount": 5, "reason": "r", "key": "k"}, headers=manager)),
        ("get", "/api/members/{customer_id}/points", lambda: client.get(f"/api/members/{member}/points",
                                                                       headers=manager)),
        ("get", "/api/points-mall/items", lambda: client.get(f"/api/points-mall/items?customer_id={member}",
                                                            headers=manager)),
        ("patch", "/api/points-mall/items/{item_id}", lambda: client.patch(
            f"/api/points-mall/items/{item.get_json()['id']}", json={"sort": 2}, headers=manager)),
        ("post", "/api/points-mall/exchange", lambda: client.post(
            "/api/points-mall/exchange", json={"item_id": item.get_json()["id"], "customer_id": member, "key": "e"},
            headers=manager)),
        ("post", "/api/members/checkin", lambda: client.post("/api/members/checkin", json={"customer_id": member},
                                                            headers=manager)),
        ("post", "/api/members/checkin", lambda: client.post("/api/members/checkin", json={"customer_id": member},
                                                            headers=manager)),
        ("post", "/api/points-mall/exchange", lambda: client.post(
            "/api/points-mall/exchange", json={"item_id": 10_000, "customer_id": member}, headers=manager)),
    ]
    seen = set()
    for method, path, call in calls:
        response = call()
        seen.add(response.status_code)
        answer = spec["paths"][path][method]["responses"][str(response.status_code)]
        if "$ref" in answer:
            answer = spec["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = {**answer["content"]["application/json"]["schema"], "components": spec["components"]}
        errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(response.get_json())]
        assert not errors, (method, path, response.status_code, errors)
    assert seen == {200, 201, 404}
