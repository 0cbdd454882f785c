"""Results per campaign and variant (SPEC §8), counted from deliveries, timelines, coupons and
orders written straight to the database: each measure's window and the last-touch attribution
of orders across campaigns, a constant number of queries whatever the size, and the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, update

from campaign_world import customer, delivery, interaction, make_campaign, order
from coupon_world import make_template
from scrm.clock import FrozenClock
from scrm.coupons import issuing
from scrm.coupons.models import Coupon
from scrm.outreach import results

T = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # the send, 10:00 in Shanghai


@pytest.fixture
def frozen(runtime):
    runtime.clock = FrozenClock(T)
    return runtime


def campaign_coupon(runtime, template_id: int, customer_id: int, campaign_id: int, *,  # noqa: ANN001
                    redeemed: bool = False, source: str = "campaign") -> None:
    with runtime.transaction() as db_session:
        coupon = issuing.issue(runtime=runtime, db_session=db_session, template_id=template_id,
                               customer_id=customer_id, source=source, source_ref=str(campaign_id), at=T)
        if redeemed:
            db_session.execute(update(Coupon).where(Coupon.id == coupon.id)
                               .values(status="redeemed", redeemed_at=T + timedelta(days=1)))


@pytest.fixture
def world(frozen):
    """Campaign X: variant A, variant B and the holdout; campaign Y touches c3 a day after X."""
    x, y = make_campaign(frozen), make_campaign(frozen, name="Y")
    c = {n: customer(frozen, f"c{n}") for n in range(1, 9)}
    delivery(frozen, x, c[1], variant="A", sent_at=T)
    delivery(frozen, x, c[2], variant="A", status="failed", reason="45015")
    delivery(frozen, x, c[6], variant="A", status="skipped", reason="no_channel")
    delivery(frozen, x, c[7], variant="A", status="dead", reason="45009")
    delivery(frozen, x, c[3], variant="B", sent_at=T)
    delivery(frozen, x, c[4], variant="B", status="skipped", reason="capped")
    delivery(frozen, x, c[8], variant="B", status="planned")
    delivery(frozen, x, c[5], variant="holdout", status="holdout")
    delivery(frozen, y, c[3], sent_at=T + timedelta(days=1))
    # Opens: after the send and within the window only.
    interaction(frozen, c[1], "link_open", T + timedelta(hours=1))
    interaction(frozen, c[3], "link_open", T - timedelta(hours=1))
    interaction(frozen, c[3], "link_open", T + timedelta(days=10, hours=1))
    # Replies: an MP message within 48 h.
    interaction(frozen, c[3], "text", T + timedelta(hours=2))
    interaction(frozen, c[1], "text", T + timedelta(hours=50))
    interaction(frozen, c[1], "follow", T + timedelta(hours=3))  # an event, not a reply
    # Coupons of the campaign (one redeemed); one issued by hand does not count.
    template = make_template(frozen)
    campaign_coupon(frozen, template, c[1], x, redeemed=True)
    campaign_coupon(frozen, template, c[3], x)
    campaign_coupon(frozen, template, c[3], x, source="manual")
    # Orders: c1 the next day (A) and 8 days later (outside 7 days); c3 12 h later (B, X the
    # last touch) and 2 days later (Y touched c3 since); the holdout's and one before any send.
    order(frozen, c[1], "100.00", T + timedelta(days=1))
    order(frozen, c[1], "40.00", T + timedelta(days=8))
    order(frozen, c[3], "55.50", T + timedelta(hours=12))
    order(frozen, c[3], "70.00", T + timedelta(days=2))
    order(frozen, c[5], "99.00", T + timedelta(days=1))
    order(frozen, c[2], "10.00", T - timedelta(days=1))
    return x, y


def figures(runtime, campaign_id: int, days: int = 7):  # noqa: ANN001, ANN201
    with runtime.transaction() as db_session:
        found = results.campaign_results(db_session=db_session, campaign_id=campaign_id, days=days)
    return {v.variant: v for v in found.variants}, found.total


def test_each_variant_is_counted_from_what_happened(frozen, world):
    x, y = world
    variants, total = figures(frozen, x)
    assert list(variants) == ["A", "B", "holdout"]
    a, b, holdout = variants["A"], variants["B"], variants["holdout"]
    assert (a.planned, a.sent, a.failed, a.dead, a.waiting, a.skipped) == (4, 1, 1, 1, 0, {"no_channel": 1})
    assert (b.planned, b.sent, b.failed, b.waiting, b.skipped) == (3, 1, 0, 1, {"capped": 1})
    assert (holdout.planned, holdout.holdout, holdout.sent, holdout.orders) == (1, 1, 0, 0)
    assert (a.opened, b.opened) == (1, 0)
    assert (a.replied, b.replied) == (0, 1)
    assert (a.coupons_issued, a.coupons_redeemed, b.coupons_issued, b.coupons_redeemed) == (1, 1, 1, 0)
    assert (a.orders, str(a.order_amount)) == (1, "100.00")
    assert (b.orders, str(b.order_amount)) == (1, "55.50")
    assert (total.planned, total.sent, total.skipped, total.orders, str(total.order_amount)) == (
        8, 2, {"no_channel": 1, "capped": 1}, 2, "155.50")
    # The order after Y's touch is Y's, not X's: the last touch wins.
    _, y_total = figures(frozen, y)
    assert (y_total.orders, str(y_total.order_amount)) == (1, "70.00")


def test_a_longer_window_takes_in_later_orders_and_opens(frozen, world):
    x, _ = world
    variants, _ = figures(frozen, x, days=11)
    assert (variants["A"].orders, str(variants["A"].order_amount)) == (2, "140.00")
    assert variants["B"].opened == 1


def test_results_take_a_constant_number_of_queries(frozen):
    campaign_id = make_campaign(frozen)
    statements: list[str] = []

    def counted() -> int:
        statements.clear()
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(frozen.engine, "before_cursor_execute", listener)
        try:
            figures(frozen, campaign_id)
        finally:
            event.remove(frozen.engine, "before_cursor_execute", listener)
        return len([s for s in statements if s.lstrip().upper().startswith("SELECT")])

    for n in range(3):
        delivery(frozen, campaign_id, customer(frozen), variant="A" if n % 2 else "B")
    few = counted()
    for n in range(30):
        someone = customer(frozen)
        delivery(frozen, campaign_id, someone, variant="A" if n % 2 else "B")
        order(frozen, someone, "1.00", T + timedelta(hours=1))
    assert counted() == few <= 5


def test_the_results_api(frozen, world, client, auth):
    x, _ = world
    headers = auth("manager")
    body = client.get(f"/api/campaigns/{x}/results", headers=headers).get_json()
    assert body["days"] == 7 and [v["variant"] for v in body["variants"]] == ["A", "B", "holdout"]
    assert body["total"]["order_amount"] == "155.50" and body["total"]["skipped"] == {"no_channel": 1, "capped": 1}
    assert client.get(f"/api/campaigns/{x}/results?days=11", headers=headers).get_json()["total"]["orders"] == 3
    assert client.get(f"/api/campaigns/{x}/results?days=0", headers=headers).status_code == 400
    assert client.get("/api/campaigns/999/results", headers=headers).status_code == 404
    shown = client.get(f"/api/campaigns/{x}", headers=headers).get_json()
    assert shown["results"]["total"]["sent"] == 2 and len(shown["runs"]) == 1
    listed = {c["id"]: c for c in client.get("/api/campaigns", headers=headers).get_json()["campaigns"]}
    assert listed[x]["deliveries"]["sent"] == 2 and listed[x]["deliveries"]["skipped_total"] == 2
