"""The console's dashboard: the funnel with its rates, the guides' leaderboard (bindings in the
period, customers now, scans, redemptions, orders), the tags most customers carry and the
latest campaigns' results; for a period and a store; bad filters shown, not fatal; managers only."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from campaign_world import customer as tagged_customer
from campaign_world import delivery, make_campaign
from coupon_world import issue, make_template
from guide_world import create_guide, create_store, mp_scan, openid
from scrm.clock import FrozenClock
from scrm.customers.service import lookup
from scrm.outreach import campaigns
from tagging.models import Order
from web_world import page_text

NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


def stage(text: str, name: str) -> int:
    return int(re.search(rf'data-stage="{name}">(\d+)<', text).group(1))


def leaders(text: str) -> list[list[str]]:
    table = re.search(r'<table id="leaders">.*?</table>', text, re.S).group(0)
    rows = re.findall(r"<tr><td>.*?</tr>", table, re.S)
    return [[cell.strip() for cell in re.findall(r">([^<>]+)<", row) if cell.strip()] for row in rows]


@pytest.fixture
def shop(runtime, client, make_token):  # noqa: ANN001, ANN201
    runtime.clock = FrozenClock(NOW)
    create_store(runtime, "S1")
    create_store(runtime, "S2", name="杭州店")
    g1, g2 = create_guide(runtime, "G1", store="S1", name="王小美"), create_guide(runtime, "G2", store="S2", name="李大力")
    template = make_template(runtime)
    people = {}
    for guide, n in ((g1, 3), (g2, 1)):
        for _ in range(n):
            who = openid()
            mp_scan(runtime, client, who, guide.mp_scene)
            with runtime.transaction() as db_session:
                people.setdefault(guide.code, []).append(lookup(db_session=db_session, channel="mp", external_id=who).id)
    coupons = [issue(runtime, template, c) for c in people["G1"][:2]]
    assert client.post("/api/coupons/redeem", json={"code": coupons[0].code},
                       headers={"Authorization": f"Bearer {make_token('guide', 'G1')}"}).status_code == 200
    with runtime.transaction() as db_session:
        db_session.add(Order(order_no="NO-1", customer_id=people["G2"][0], amount=Decimal("299.00"), ordered_at=NOW,
                             credited_guide_id=g2.id))
    for name, tags in (("甲", ("奶粉", "尿不湿")), ("乙", ("奶粉",)), ("丙", ("奶粉",))):
        tagged_customer(runtime, name, tags=tags)
    campaign_id = make_campaign(runtime, name="双11预热")
    with runtime.transaction() as db_session:
        campaigns.launch(runtime=runtime, db_session=db_session, campaign_id=campaign_id)
    delivery(runtime, campaign_id, people["G1"][0])
    delivery(runtime, campaign_id, people["G1"][1], status="skipped", reason="capped")
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    return people


def test_the_dashboard_shows_the_funnel_guides_tags_and_campaigns(shop, client):
    response = client.get("/console/dashboard")
    assert response.status_code == 200
    text = page_text(response)
    assert [stage(text, s) for s in ("scans", "follows", "bindings", "coupons_issued", "coupons_redeemed")] == \
        [4, 4, 4, 2, 1]
    assert re.search(r'data-rate="coupons_redeemed">50.0%<', text)  # 1 of 2 given a coupon redeemed
    assert leaders(text) == [
        ["王小美", "上海静安店", "3", "3", "3", "1", "0", "¥0.00", "0"],  # by bindings first; no product codes claimed
        ["李大力", "杭州店", "1", "1", "1", "0", "1", "¥299.00", "0"],
    ]
    tags = re.search(r'<div class="bars" id="tags">.*?</div>\s*<p', text, re.S).group(0)
    # most carried first: the channel tag every scanner got, then the interests
    assert re.findall(r"<span>([^<]+) <small", tags) == ["导购码-公众号", "奶粉", "尿不湿"]
    assert 'aria-label="导购码-公众号: 4"' in tags and 'aria-label="奶粉: 3"' in tags and 'aria-label="尿不湿: 1"' in tags
    campaigns_table = re.search(r'<table id="campaigns">.*?</table>', text, re.S).group(0)
    assert "双11预热" in campaigns_table and re.findall(r'class="num">(\d+)<', campaigns_table)[:2] == ["2", "1"]


def test_a_store_and_a_period_narrow_it(shop, client):
    hangzhou = page_text(client.get("/console/dashboard", query_string={"store": "S2"}))
    assert stage(hangzhou, "bindings") == 1 and [row[0] for row in leaders(hangzhou)] == ["李大力"]
    before = page_text(client.get("/console/dashboard", query_string={"from": "2026-10-01", "to": "2026-10-31"}))
    assert stage(before, "scans") == 0 and [row[2] for row in leaders(before)] == ["0", "0"]
    assert [row[3] for row in leaders(before)] == ["3", "1"]  # customers now, whatever the period


def test_bad_filters_are_shown_and_the_page_still_answers(shop, client):
    reversed_days = client.get("/console/dashboard", query_string={"from": "2026-11-02", "to": "2026-10-01"})
    assert reversed_days.status_code == 422 and "开始日期须早于结束日期" in page_text(reversed_days)
    assert stage(page_text(reversed_days), "scans") == 4  # the last 30 days instead
    unknown = client.get("/console/dashboard", query_string={"store": "NOPE"})
    assert unknown.status_code == 422 and "没有门店 NOPE" in page_text(unknown)
    client.post("/language", data={"lang": "en", "next": "/"})
    english = client.get("/console/dashboard", query_string={"from": "2026-11-02", "to": "2026-10-01", "store": "NOPE"})
    assert "From must be before to" in page_text(english) and "no store NOPE" in page_text(english)


def test_the_dashboard_is_for_managers(runtime, client, make_token):
    fresh = client.application.test_client()
    assert fresh.get("/console/dashboard").status_code == 302
    create_store(runtime)
    create_guide(runtime, "G9")
    assert fresh.post("/login", data={"token": make_token("guide", "G9")}).status_code == 302
    assert fresh.get("/console/dashboard").status_code == 403
