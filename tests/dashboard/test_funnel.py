"""GET /api/stats/funnel: scanned → followed → bound → given a coupon → redeemed, in people, for
the brand, a store or a guide, with each stage's rate against the one before and its events
(the cohort itself: test_funnel_cohort.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from coupon_world import issue, make_template
from guide_world import create_guide, create_store, mp_scan, openid
from scrm.clock import FrozenClock
from scrm.customers.service import lookup

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


@pytest.fixture
def shop(runtime, client):
    runtime.clock = FrozenClock(NOW)
    create_store(runtime, "S1")
    create_store(runtime, "S2", name="杭州店")
    g1, g2 = create_guide(runtime, "G1", store="S1"), create_guide(runtime, "G2", store="S2")
    template = make_template(runtime)
    customers, openids = [], []
    for guide, n in ((g1, 4), (g2, 2)):
        for _ in range(n):
            openids.append(who := openid())
            mp_scan(runtime, client, who, guide.mp_scene)
            with runtime.transaction() as db_session:
                customers.append(lookup(db_session=db_session, channel="mp", external_id=who).id)
    mp_scan(runtime, client, openids[0], g1.mp_scene, event="SCAN")  # scanned again: no follow, no new binding
    coupons = [issue(runtime, template, c) for c in customers[:3]]  # three of G1's customers
    return coupons


def stages(body: dict) -> dict[str, tuple[int, float | None]]:
    return {s["stage"]: (s["count"], s["rate_from_previous"]) for s in body["stages"]}


def events(body: dict) -> dict[str, int]:
    return {s["stage"]: s["events"] for s in body["stages"]}


def test_the_brand_a_store_and_a_guide(shop, client, auth):
    assert client.post("/api/coupons/redeem", json={"code": shop[0].code}, headers=auth("guide", "G1")).status_code == 200
    body = client.get("/api/stats/funnel", headers=auth("manager")).get_json()
    brand = stages(body)  # the first customer scanned twice: one person
    assert brand == {"scans": (6, None), "follows": (6, 1.0), "bindings": (6, 1.0),
                     "coupons_issued": (3, 0.5), "coupons_redeemed": (1, pytest.approx(0.3333))}
    assert events(body) == {"scans": 7, "follows": 6, "bindings": 6, "coupons_issued": 3, "coupons_redeemed": 1}
    store = stages(client.get("/api/stats/funnel?store=S2", headers=auth()).get_json())
    assert store["scans"] == (2, None) and store["coupons_issued"] == (0, 0.0)
    guide = stages(client.get("/api/stats/funnel?guide=G1", headers=auth()).get_json())
    assert guide["bindings"][0] == 4 and guide["coupons_issued"][0] == 3 and guide["coupons_redeemed"][0] == 1


def test_a_guide_sees_only_their_own_funnel(shop, client, auth):
    mine = stages(client.get("/api/stats/funnel?guide=G1", headers=auth("guide", "G2")).get_json())
    assert mine["bindings"][0] == 2 and mine["coupons_issued"][0] == 0


def test_range_and_unknown_codes(shop, client, auth):
    before = client.get("/api/stats/funnel?from=2026-10-01&to=2026-10-31", headers=auth()).get_json()
    assert all(s["count"] == 0 for s in before["stages"])
    assert client.get("/api/stats/funnel?store=NOPE", headers=auth()).status_code == 404
    assert client.get("/api/stats/funnel?from=2026-11-05&to=2026-11-01", headers=auth()).status_code == 400
    assert client.get("/api/stats/funnel").status_code == 401
