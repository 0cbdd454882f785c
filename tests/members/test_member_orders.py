"""Orders and refunds of members (scrm/members/orders.py, tagging/refunds.py) through the API, on
both backends: an order earns frozen points and growth once however often it is posted, pays
with points oldest first or not at all, and a refund reverses its share of points and growth
and gives back its share of the points used, exactly, whatever the steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import func, select

from coupon_world import make_customer
from member_world import grant, make_member
from scrm.members import ledger
from scrm.members.models import GrowthEntry, Member, PointEntry
from tagging.models import Order, OrderRefund

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
_openids = count(1)


@pytest.fixture
def headers(auth):  # noqa: ANN001, ANN201
    return auth("manager")


def member(runtime) -> tuple[int, str]:  # noqa: ANN001
    openid = f"o-member-{next(_openids)}"
    return make_member(runtime, openid=openid), openid


def order(client, headers, openid: str, order_no: str, amount: str, **fields):  # noqa: ANN001, ANN003, ANN201
    body = {"order_no": order_no, "amount": amount, "ordered_at": NOW.isoformat(), "customer": {"openid": openid},
            **fields}
    return client.post("/api/orders", json=body, headers=headers)


def refund(client, headers, order_no: str, amount, **fields):  # noqa: ANN001, ANN003, ANN201
    return client.post(f"/api/orders/{order_no}/refund", json={"amount": amount, **fields}, headers=headers)


def points(runtime, customer_id: int, at: datetime | None = None) -> ledger.Balance:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return ledger.balance(db_session=db_session, customer_id=customer_id, at=at or runtime.clock.now())


def growth(runtime, customer_id: int) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.get(Member, customer_id).growth


def rows(runtime, model) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(func.count()).select_from(model))


def test_an_order_earns_frozen_points_and_growth_once(frozen, client, headers):
    amy, openid = member(frozen)
    first = order(client, headers, openid, "SO-1", "199.90")
    assert first.status_code == 201, first.get_json()
    available_at = (NOW + timedelta(days=7)).isoformat()
    assert first.get_json()["member"] == {"points_earned": 199, "points_available_at": available_at, "growth": 199,
                                          "points_used": 0}
    now = points(frozen, amy)
    assert (now.total, now.available, now.frozen) == (199, 0, 199)
    assert points(frozen, amy, at=NOW + timedelta(days=7)).available == 199
    assert growth(frozen, amy) == 199

    again = order(client, headers, openid, "SO-1", "199.90")
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert rows(frozen, PointEntry) == 1 and rows(frozen, GrowthEntry) == 1
    assert points(frozen, amy).total == 199 and growth(frozen, amy) == 199


def test_a_customer_who_is_not_a_member_earns_nothing_and_the_order_still_lands(frozen, client, headers):
    make_customer(frozen, openid="o-guest")
    response = order(client, headers, "o-guest", "SO-G", "50.00")
    assert response.status_code == 201 and response.get_json()["member"] is None
    assert rows(frozen, Order) == 1 and rows(frozen, PointEntry) == 0 and rows(frozen, GrowthEntry) == 0


def test_points_used_are_spent_oldest_first_and_too_many_refuse_the_whole_order(frozen, client, headers):
    amy, openid = member(frozen)
    older = grant(frozen, amy, 30, at=NOW - timedelta(days=3))
    newer = grant(frozen, amy, 50, at=NOW - timedelta(days=1))
    paid = order(client, headers, openid, "SO-P", "100.00", points_used=40)
    assert paid.status_code == 201, paid.get_json()
    assert paid.get_json()["points_used"] == 40 and paid.get_json()["member"]["points_used"] == 40
    with frozen.transaction() as db_session:
        lots = db_session.scalars(select(PointEntry).where(PointEntry.kind == "grant"))
        left = {lot.id: lot.remaining for lot in lots}
    assert left == {older: 0, newer: 40}
    assert points(frozen, amy).available == 40

    assert order(client, headers, openid, "SO-P", "100.00", points_used=40).status_code == 200  # the same again
    other = order(client, headers, openid, "SO-P", "100.00", points_used=10)
    assert other.status_code == 409 and other.get_json()["fields"] == ["points_used"]
    assert points(frozen, amy).available == 40

    too_many = order(client, headers, openid, "SO-Q", "100.00", points_used=41)
    assert too_many.status_code == 409
    assert (too_many.get_json()["error"], too_many.get_json()["available"]) == ("not_enough_points", 40)
    make_customer(frozen, openid="o-guest")
    stranger = order(client, headers, "o-guest", "SO-R", "10.00", points_used=1)
    assert stranger.status_code == 404 and stranger.get_json()["error"] == "not_a_member"
    with frozen.transaction() as db_session:
        assert db_session.scalars(select(Order.order_no)).all() == ["SO-P"]  # neither refused order landed
    assert points(frozen, amy).available == 40


@pytest.mark.parametrize("bad", [-1, "5", 1.5, True, 10_000_001, None])
def test_points_used_must_be_a_whole_number_in_range(frozen, client, headers, bad):
    _, openid = member(frozen)
    response = order(client, headers, openid, "SO-B", "10.00", points_used=bad)
    assert response.status_code == 422 and response.get_json()["field"] == "points_used"
    assert rows(frozen, Order) == 0


def test_a_refund_of_half_reverses_half_and_a_retry_changes_nothing(frozen, client, headers):
    amy, openid = member(frozen)
    grant(frozen, amy, 40)
    assert order(client, headers, openid, "SO-H", "200.00", points_used=40).status_code == 201
    assert (points(frozen, amy).total, growth(frozen, amy)) == (200, 200)  # 200 earned (frozen), 40 spent

    half = refund(client, headers, "SO-H", "100.00")
    assert half.status_code == 201, half.get_json()
    body = half.get_json()
    assert body["reversed"] == {"points_taken_back": 100, "growth_taken_back": 100, "points_returned": 20}
    assert (body["order_no"], body["refunded_amount"], body["refund"]["amount"]) == ("SO-H", "100.00", "100.00")
    assert body["refund"]["refund_no"] == "auto:0.00+100.00"
    balance = points(frozen, amy)
    assert (balance.total, balance.frozen, balance.available) == (120, 100, 20)
    assert growth(frozen, amy) == 100

    entries = rows(frozen, PointEntry)
    retried = refund(client, headers, "SO-H", "100.00")  # the answer was lost; the order system asks again
    assert retried.status_code == 200 and retried.get_json() == body
    assert rows(frozen, PointEntry) == entries and rows(frozen, OrderRefund) == 1
    assert (points(frozen, amy).total, growth(frozen, amy)) == (120, 100)

    with frozen.transaction() as db_session:
        timeline = db_session.scalars(select(GrowthEntry.kind).order_by(GrowthEntry.id)).all()
    assert timeline == ["order", "refund"]
    profile = client.get(f"/api/customers/{amy}", headers=headers).get_json()
    refunds = [entry for entry in profile["timeline"] if entry["kind"] == "refund"]
    assert len(refunds) == 1 and refunds[0]["payload"]["amount"] == "100.00"


def test_refunds_that_sum_to_the_whole_order_reverse_exactly_what_it_gave(frozen, client, headers):
    amy, openid = member(frozen)
    grant(frozen, amy, 7)
    assert order(client, headers, openid, "SO-3", "10.00", points_used=7).status_code == 201  # 10 points, 10 growth
    steps = [refund(client, headers, "SO-3", "3.33", refund_no="R1"),
             refund(client, headers, "SO-3", "3.33", refund_no="R2"),  # the same amount: both count (own numbers)
             refund(client, headers, "SO-3", "3.34")]
    assert [step.status_code for step in steps] == [201, 201, 201]
    reversed_ = [step.get_json()["reversed"] for step in steps]
    assert [r["points_taken_back"] for r in reversed_] == [3, 4, 3]
    assert [r["growth_taken_back"] for r in reversed_] == [3, 4, 3]
    assert [r["points_returned"] for r in reversed_] == [2, 3, 2]
    assert steps[-1].get_json()["refunded_amount"] == "10.00"
    balance = points(frozen, amy)
    assert (balance.total, balance.available, balance.frozen) == (7, 7, 0)  # as before the order
    assert growth(frozen, amy) == 0
    with frozen.transaction() as db_session:
        assert ledger.audit(db_session=db_session) == []

    over = refund(client, headers, "SO-3", "0.01")
    assert over.status_code == 409 and over.get_json()["error"] == "over_refund"
    assert over.get_json()["refundable"] == "0.00"


def test_refused_refunds_change_nothing(frozen, client, headers):
    amy, openid = member(frozen)
    assert order(client, headers, openid, "SO-X", "50.00").status_code == 201
    over = refund(client, headers, "SO-X", "50.01")
    assert over.status_code == 409 and (over.get_json()["error"], over.get_json()["refundable"]) == ("over_refund",
                                                                                                    "50.00")
    assert refund(client, headers, "SO-X", "20.00", refund_no="R-1").status_code == 201
    clash = refund(client, headers, "SO-X", "25.00", refund_no="R-1")
    assert clash.status_code == 409 and clash.get_json()["error"] == "refund_conflict"
    assert refund(client, headers, "SO-X", "20.00", refund_no="R-1").status_code == 200
    assert refund(client, headers, "SO-NONE", "1.00").get_json()["error"] == "order_not_found"
    assert refund(client, headers, "SO%00X", "1.00").status_code in (400, 404)  # the edge refuses NUL first
    assert refund(client, headers, "S" * 65, "1.00").status_code == 404
    for raw in ('{"amount": "0"}', '{"amount": "-1"}', '{"amount": "1.001"}', '{"amount": NaN}',
                '{"amount": 1e999}', '{"amount": "abc"}', '{"amount": null}', '{}', '{"amount": "1", "refund_no": ""}'):
        response = client.post("/api/orders/SO-X/refund", data=raw, content_type="application/json", headers=headers)
        assert response.status_code == 422, (raw, response.get_json())
    assert refund(client, headers, "SO-X", "1.00", refund_no="auto:0.00+1.00").status_code == 422
    assert refund(client, headers, "SO-X", "1.00", extra=1).status_code == 422
    with frozen.transaction() as db_session:
        assert db_session.scalar(select(Order.refunded_amount)) == 20
        assert db_session.scalar(select(func.count()).select_from(OrderRefund)) == 1
    assert (points(frozen, amy).total, growth(frozen, amy)) == (30, 30)


def test_a_refund_without_a_number_counts_again_after_the_retry_window(frozen, client, headers):
    amy, openid = member(frozen)
    assert order(client, headers, openid, "SO-W", "30.00").status_code == 201
    assert refund(client, headers, "SO-W", "10.00").status_code == 201
    frozen.clock.advance(minutes=29)
    assert refund(client, headers, "SO-W", "10.00").status_code == 200  # a retry
    frozen.clock.advance(minutes=2)
    second = refund(client, headers, "SO-W", "10.00")  # 31 minutes after the first: another item back
    assert second.status_code == 201 and second.get_json()["refund"]["refund_no"] == "auto:10.00+10.00"
    assert refund(client, headers, "SO-W", "5.00").status_code == 201  # another amount counts at once
    assert second.get_json()["refunded_amount"] == "20.00"
    assert (points(frozen, amy).total, growth(frozen, amy)) == (5, 5)


def test_points_given_back_expire_when_the_lots_they_were_spent_from_would(frozen, client, headers):
    amy, openid = member(frozen)
    soon, later = NOW + timedelta(days=20), NOW + timedelta(days=200)
    grant(frozen, amy, 10, expires_at=soon)
    grant(frozen, amy, 10, expires_at=later)
    assert order(client, headers, openid, "SO-E", "100.00", points_used=15).status_code == 201  # 10 + 5
    assert refund(client, headers, "SO-E", "20.00", refund_no="A").get_json()["reversed"]["points_returned"] == 3
    assert refund(client, headers, "SO-E", "80.00", refund_no="B").get_json()["reversed"]["points_returned"] == 12
    with frozen.transaction() as db_session:
        returned = db_session.execute(select(PointEntry.amount, PointEntry.expires_at, PointEntry.available_at)
                                      .where(PointEntry.kind == "refund_return").order_by(PointEntry.id)).all()
    # Spent last first: the 5 of the later lot come back first, then the 10 of the sooner one.
    assert [(amount, expires.replace(tzinfo=UTC)) for amount, expires, _ in returned] == [
        (3, later), (2, later), (10, soon)]
    assert all(available.replace(tzinfo=UTC) == NOW for _, _, available in returned)
    assert points(frozen, amy).available == 20
