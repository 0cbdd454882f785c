"""Coupon templates and rules through the API: each kind with its value, both validity modes,
stock and limits, stores; bad input named field by field and nothing created."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from guide_world import create_store
from scrm.coupons.models import CouponRule, CouponTemplate

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


def template_count(runtime) -> int:
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(CouponTemplate))


@pytest.mark.parametrize("body, value_text", [
    ({"kind": "cash", "amount": "20", "min_spend": "100"}, "满100减¥20"),
    ({"kind": "cash", "amount": 9.9}, "¥9.90 代金券"),
    ({"kind": "discount", "discount": "8.5"}, "8.5折"),
    ({"kind": "discount", "discount": 7, "min_spend": 200}, "满200 7折".replace(" ", "")),
    ({"kind": "gift", "gift": "英氏米粉试用装"}, "赠 英氏米粉试用装"),
])
def test_each_kind_is_created_with_its_value(frozen, client, auth, body, value_text):
    response = client.post("/api/coupon-templates", json={"name": "券", "valid_days": 30, **body}, headers=auth("manager"))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["kind"] == body["kind"]
    assert created["value_text"] == value_text
    assert created["status"] == "active" and created["issued"] == 0


def test_fixed_dates_and_days_after_issue(frozen, client, auth):
    fixed = client.post("/api/coupon-templates", headers=auth(), json={
        "name": "双11", "kind": "cash", "amount": "50", "valid_from": "2026-11-11T00:00:00+08:00",
        "valid_until": "2026-11-12T00:00:00+08:00"}).get_json()
    assert fixed["valid_from"] == "2026-11-10T16:00:00+00:00"
    assert fixed["valid_until"] == "2026-11-11T16:00:00+00:00" and fixed["valid_days"] is None
    days = client.post("/api/coupon-templates", headers=auth(), json={
        "name": "新客", "kind": "gift", "gift": "围兜", "valid_days": 7}).get_json()
    assert days["valid_days"] == 7 and days["valid_from"] is None


def test_stock_limit_and_stores(frozen, client, auth):
    create_store(frozen, "S1")
    create_store(frozen, "S2", name="杭州店")
    created = client.post("/api/coupon-templates", headers=auth(), json={
        "name": "门店券", "kind": "cash", "amount": "10", "valid_days": 10, "stock": 100, "per_customer_limit": 2,
        "stores": ["S2", "S1", "S2"]}).get_json()
    assert (created["stock"], created["left"], created["per_customer_limit"]) == (100, 100, 2)
    assert created["stores"] == ["S1", "S2"]
    listed = client.get("/api/coupon-templates", headers=auth()).get_json()["templates"]
    assert [t["id"] for t in listed] == [created["id"]] and listed[0]["redeemed"] == 0


@pytest.mark.parametrize("body, field", [
    ({"kind": "cash", "valid_days": 3}, "amount"),
    ({"kind": "gift", "gift": "x", "amount": "3", "valid_days": 3}, "amount"),
    ({"kind": "discount", "discount": "10", "valid_days": 3}, "discount"),
    ({"kind": "discount", "discount": "8.55", "valid_days": 3}, "discount"),
    ({"kind": "cash", "amount": "-1", "valid_days": 3}, "amount"),
    ({"kind": "cash", "amount": "5"}, "validity"),
    ({"kind": "cash", "amount": "5", "valid_days": 3, "valid_from": "2026-11-11T00:00:00+08:00"}, "validity"),
    ({"kind": "cash", "amount": "5", "valid_from": "2026-11-12T00:00:00+08:00",
      "valid_until": "2026-11-11T00:00:00+08:00"}, "valid_until"),
    ({"kind": "cash", "amount": "5", "valid_from": "2026-11-11T00:00:00", "valid_until": "2026-11-12T00:00:00+08:00"},
     "valid_from"),
    ({"kind": "cash", "amount": "5", "valid_days": 0}, "valid_days"),
    ({"kind": "cash", "amount": "5", "valid_days": 3, "stock": 0}, "stock"),
    ({"kind": "cash", "amount": "5", "valid_days": 3, "per_customer_limit": "2"}, "per_customer_limit"),
    ({"kind": "bogus", "valid_days": 3}, "kind"),
    ({"kind": "cash", "amount": "5", "valid_days": 3, "colour": "red"}, "colour"),
])
def test_bad_input_names_the_field_and_creates_nothing(frozen, client, auth, body, field):
    response = client.post("/api/coupon-templates", json={"name": "坏券", **body}, headers=auth())
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["field"] == field
    assert template_count(frozen) == 0


def test_unknown_store_is_refused(frozen, client, auth):
    response = client.post("/api/coupon-templates", headers=auth(), json={
        "name": "x", "kind": "cash", "amount": "5", "valid_days": 3, "stores": ["NOPE"]})
    assert response.status_code == 422 and response.get_json()["error"] == "unknown_store"
    assert template_count(frozen) == 0


def test_a_guide_cannot_manage_templates(frozen, client, auth):
    response = client.post("/api/coupon-templates", headers=auth("guide", "G1"), json={
        "name": "x", "kind": "cash", "amount": "5", "valid_days": 3})
    assert response.status_code == 403
    assert client.get("/api/coupon-templates").status_code == 401


def test_change_pauses_and_restocks_but_never_below_issued(frozen, client, auth):
    from coupon_world import issue, make_customer, make_template

    template_id = make_template(frozen, stock=5)
    issue(frozen, template_id, make_customer(frozen))
    paused = client.patch(f"/api/coupon-templates/{template_id}", json={"status": "paused"}, headers=auth())
    assert paused.get_json()["status"] == "paused"
    too_low = client.patch(f"/api/coupon-templates/{template_id}", json={"stock": 0}, headers=auth())
    assert too_low.status_code == 422
    still_fine = client.patch(f"/api/coupon-templates/{template_id}", json={"stock": 1}, headers=auth())
    assert still_fine.status_code == 200 and still_fine.get_json()["left"] == 0
    assert client.patch("/api/coupon-templates/999", json={"stock": 3}, headers=auth()).status_code == 404
    unlimited = client.patch(f"/api/coupon-templates/{template_id}", json={"unlimited_stock": True}, headers=auth())
    assert unlimited.get_json()["stock"] is None


def test_stock_below_issued_is_a_conflict(frozen, client, auth):
    from coupon_world import issue, make_customer, make_template

    template_id = make_template(frozen, stock=5)
    for _ in range(3):
        issue(frozen, template_id, make_customer(frozen))
    response = client.patch(f"/api/coupon-templates/{template_id}", json={"stock": 2}, headers=auth())
    assert response.status_code == 409 and response.get_json()["error"] == "stock_below_issued"


def test_rules_are_created_checked_and_switched_off(frozen, client, auth):
    from coupon_world import make_template

    template_id = make_template(frozen)
    over = client.post("/api/coupon-rules", headers=auth(), json={
        "template_id": template_id, "trigger": "order_over", "min_amount": "299"}).get_json()
    assert over["min_amount"] == "299.00" and over["active"]
    bad = client.post("/api/coupon-rules", headers=auth(), json={"template_id": template_id, "trigger": "order_over"})
    assert bad.status_code == 422 and bad.get_json()["field"] == "min_amount"
    wrong = client.post("/api/coupon-rules", headers=auth(), json={
        "template_id": template_id, "trigger": "binding", "min_amount": "3"})
    assert wrong.status_code == 422
    missing = client.post("/api/coupon-rules", headers=auth(), json={"template_id": 999, "trigger": "binding"})
    assert missing.status_code == 404
    off = client.patch(f"/api/coupon-rules/{over['id']}", json={"active": False}, headers=auth()).get_json()
    assert off["active"] is False
    detail = client.get(f"/api/coupon-templates/{template_id}", headers=auth()).get_json()
    assert [r["trigger"] for r in detail["rules"]] == ["order_over"]
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(CouponRule)) == 1


def test_fixed_dates_in_the_past_issue_nothing(frozen, client, auth):
    from coupon_world import make_customer, make_template

    template_id = make_template(frozen, valid_days=None, valid_from=NOW - timedelta(days=10),
                                valid_until=NOW - timedelta(days=1))
    customer_id = make_customer(frozen)
    response = client.post("/api/coupons", json={"template_id": template_id, "customer_id": customer_id},
                           headers=auth())
    assert response.status_code == 409 and response.get_json()["error"] == "ended"
