"""Coupon statistics: issued, redeemed, expired per template, store, guide and local day, and
the redemption rate."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coupon_world import issue, make_customer, make_template
from guide_world import create_guide, create_store, mp_scan, openid
from scrm.clock import FrozenClock
from scrm.coupons import expiry

# 23:30 in Shanghai on Nov 1: a UTC day would put it on Nov 1 too, a local one on Nov 2 after 30 min.
NOW = datetime(2026, 11, 1, 15, 30, tzinfo=UTC)


@pytest.fixture
def shop(runtime):
    from scrm.runtime import install

    runtime.clock = FrozenClock(NOW)
    install(runtime)
    create_store(runtime, "S1")
    create_store(runtime, "S2", name="杭州店")
    return runtime


def stats(client, auth, by: str, **query) -> dict:  # noqa: ANN003
    args = "&".join(f"{k}={v}" for k, v in {"by": by, "from": "2026-10-25", "to": "2026-11-10", **query}.items())
    response = client.get(f"/api/coupons/stats?{args}", headers=auth("manager"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_counts_by_template_store_guide_and_day(shop, client, auth):
    g1 = create_guide(shop, "G1", store="S1")
    create_guide(shop, "G2", store="S2")
    bound = []
    for _ in range(3):
        who = openid()
        mp_scan(shop, client, who, g1.mp_scene)
        from scrm.customers.service import lookup

        with shop.transaction() as db_session:
            bound.append(lookup(db_session=db_session, channel="mp", external_id=who).id)
    cash = make_template(shop, name="满100减20", valid_days=1)
    gift = make_template(shop, name="赠品", kind="gift", gift="围兜", amount=None, min_spend=None)
    issued = [issue(shop, cash, customer) for customer in bound] + [issue(shop, gift, make_customer(shop))]
    redeem = lambda code, guide: client.post("/api/coupons/redeem", json={"code": code},  # noqa: E731
                                             headers=auth("guide", guide))
    assert redeem(issued[0].code, "G1").status_code == 200
    shop.clock.advance(minutes=40)  # now Nov 2 in Shanghai
    assert redeem(issued[3].code, "G2").status_code == 200
    shop.clock.advance(days=1)
    assert expiry.expire_due() == 2

    by_template = {row["label"]: row for row in stats(client, auth, "template")["rows"]}
    assert (by_template["满100减20"]["issued"], by_template["满100减20"]["redeemed"],
            by_template["满100减20"]["expired"]) == (3, 1, 2)
    assert by_template["满100减20"]["redemption_rate"] == pytest.approx(0.3333)
    assert by_template["赠品"]["redemption_rate"] == 1.0

    by_guide = {row["label"]: row for row in stats(client, auth, "guide")["rows"]}
    assert by_guide["G1 导购G1"]["issued"] == 3 and by_guide["G1 导购G1"]["redeemed"] == 1
    assert by_guide["G2 导购G2"]["redeemed"] == 1 and by_guide["G2 导购G2"]["issued"] == 0
    assert by_guide["(no guide)"]["issued"] == 1

    by_store = {row["label"]: row for row in stats(client, auth, "store")["rows"]}
    assert by_store["S1 上海静安店"]["issued"] == 3 and by_store["S2 杭州店"]["redeemed"] == 1

    by_day = {row["key"]: row for row in stats(client, auth, "day")["rows"]}
    assert by_day["2026-11-01"]["issued"] == 4 and by_day["2026-11-01"]["redeemed"] == 1
    assert by_day["2026-11-02"]["redeemed"] == 1 and by_day["2026-11-02"]["expired"] == 2
    totals = stats(client, auth, "day")["totals"]
    assert (totals["issued"], totals["redeemed"], totals["expired"]) == (4, 2, 2)

    narrowed = stats(client, auth, "day", template_id=gift)["totals"]
    assert (narrowed["issued"], narrowed["redeemed"]) == (1, 1)
    outside = stats(client, auth, "day", **{"from": "2026-11-05", "to": "2026-11-06"})
    assert outside["rows"] == [] and outside["totals"]["issued"] == 0


@pytest.mark.parametrize("query", ["by=colour", "by=day&from=2026-13-01", "by=day&from=2026-11-05&to=2026-11-01",
                                   "by=day&from=2024-01-01&to=2026-01-01"])
def test_bad_queries_are_refused(shop, client, auth, query):
    response = client.get(f"/api/coupons/stats?{query}", headers=auth())
    assert response.status_code == 400 and response.get_json()["error"] == "bad_query"


def test_guides_do_not_read_statistics(shop, client, auth):
    assert client.get("/api/coupons/stats", headers=auth("guide", "G1")).status_code == 403
