"""The funnel as a cohort (SPEC §11): of the people who scanned a code in the period, how many
followed by it, were bound, were given a coupon and redeemed one. Repeat events count a person
once, a person who skips a step drops out there, events outside the period are left out, and
the period before is counted by the same rules. The events stay beside each step."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from coupon_world import issue, make_template
from guide_world import create_guide, create_store, mp_scan, openid, send, work_add
from scrm.clock import FrozenClock
from scrm.customers.service import lookup
from web_world import page_text

STAGES = ("scans", "follows", "bindings", "coupons_issued", "coupons_redeemed")
PERIOD = {"from": "2026-10-25", "to": "2026-10-31"}  # seven local days; the period before: 10-18 to 10-24


def at(day: int, hour: int = 4) -> datetime:
    """``hour`` UTC of 2026-10-``day`` (noon in Shanghai at 4)."""
    return datetime(2026, 10, day, hour, tzinfo=UTC)


class World:
    def __init__(self, runtime, client, auth) -> None:  # noqa: ANN001
        self.runtime, self.client, self.auth = runtime, client, auth
        runtime.clock = FrozenClock(at(1))
        create_store(runtime, "S1")
        create_store(runtime, "S2", name="杭州店")
        self.g1 = create_guide(runtime, "G1", store="S1")
        self.g2 = create_guide(runtime, "G2", store="S2")
        self.template = make_template(runtime)

    def when(self, moment: datetime) -> World:
        self.runtime.clock.set(moment)
        return self

    def follow(self, who: str, scene: str | None) -> int:
        """``who`` follows the account, by a code's scene or (None) by searching for it."""
        if scene is None:
            from handlers.signed_callbacks import mp_event_xml

            send(self.runtime, self.client, "mp", mp_event_xml(
                to=self.runtime.config.wechat.mp.original_id, openid=who, event="subscribe",
                create_time=int(self.runtime.clock.now().timestamp())))
        else:
            mp_scan(self.runtime, self.client, who, scene)
        return self.customer("mp", who)

    def customer(self, channel: str, who: str) -> int:
        with self.runtime.transaction() as db_session:
            return lookup(db_session=db_session, channel=channel, external_id=who).id

    def coupon(self, customer_id: int) -> str:
        return issue(self.runtime, self.template, customer_id).code

    def redeem(self, code: str) -> None:
        response = self.client.post("/api/coupons/redeem", json={"code": code}, headers=self.auth("guide", "G1"))
        assert response.status_code == 200, response.get_json()


@pytest.fixture
def world(runtime, client, auth):  # noqa: ANN001, ANN201
    w = World(runtime, client, auth)
    g1 = w.g1.mp_scene
    # The period before: F and H follow by G1's code; H is given a coupon and redeems it.
    f, h = openid(), openid()
    w.when(at(20)).follow(f, g1)
    h_id = w.when(at(21)).follow(h, g1)
    w.redeem(w.when(at(22)).coupon(h_id))
    # The period. A follows by G1's code, scans it twice more, is given two coupons, redeems both.
    a = openid()
    a_id = w.when(at(25)).follow(a, g1)
    for day in (26, 27):
        w.when(at(day))
        mp_scan(runtime, client, a, g1, event="SCAN")
    first, second = w.when(at(28)).coupon(a_id), w.coupon(a_id)
    w.when(at(29))
    w.redeem(first)
    w.redeem(second)
    # B follows by the code and is given a coupon, redeemed only after the period (below).
    b_coupon = w.when(at(30)).coupon(w.when(at(26)).follow(openid(), g1))
    # C follows by the code, nothing more.
    w.when(at(27)).follow(openid(), g1)
    # D follows by searching, then scans G1's code (bound without following by it): skips a step.
    d = openid()
    d_id = w.when(at(25)).follow(d, None)
    w.when(at(26))
    mp_scan(runtime, client, d, g1, event="SCAN")
    w.redeem(w.when(at(27)).coupon(d_id))
    # E never scans a code: given a coupon by hand and redeems it.
    w.redeem(w.coupon(w.when(at(28)).follow(openid(), None)))
    # F (who scanned in the period before) is given a coupon in the period and redeems it.
    w.redeem(w.when(at(29)).coupon(w.customer("mp", f)))
    # G adds G2 on WeCom through G2's contact way.
    w.when(at(30))
    work_add(runtime, client, "wmG" + openid()[-12:], w.g2.wecom_userid, w.g2.work_scene)
    # Today, after the period: B redeems; a new customer follows by the code.
    w.when(datetime(2026, 11, 1, 4, tzinfo=UTC))
    w.redeem(b_coupon)
    w.follow(openid(), g1)
    return w


def funnel(client, auth, **query: str) -> dict:  # noqa: ANN001
    response = client.get("/api/stats/funnel", query_string={**PERIOD, **query}, headers=auth("manager"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def column(body: dict, *path: str) -> list:
    values = []
    for stage in body["stages"]:
        value = stage
        for key in path:
            value = value[key]
        values.append(value)
    return values


def test_each_step_counts_people_of_the_step_before(world, client, auth):
    body = funnel(client, auth)
    assert [s["stage"] for s in body["stages"]] == list(STAGES)
    assert body["counts"] == "people"
    # scanned A B C D G; followed by a code A B C G (D followed by searching); bound A B C G;
    # given a coupon A B (D, E and F are outside the cohort); redeemed A (B redeemed after the period)
    assert column(body, "count") == [5, 4, 4, 2, 1]
    assert column(body, "rate_from_previous") == [None, 0.8, 1.0, 0.5, 0.5]
    assert column(body, "rate_from_first") == [None, 0.8, 0.8, 0.4, 0.2]
    counts = column(body, "count")
    assert all(later <= earlier for earlier, later in zip(counts, counts[1:], strict=False))


def test_the_events_stay_beside_each_step(world, client, auth):
    # scans: A three times, B, C, D, G; follows by a code: A B C G; bindings: A B C D G;
    # coupons: A two, B, D, E, F; redeemed: A two, D, E, F
    assert column(funnel(client, auth), "events") == [7, 4, 5, 6, 5]


def test_the_period_before_by_the_same_rules(world, client, auth):
    body = funnel(client, auth)
    assert body["before"] == {"first_day": "2026-10-18", "last_day": "2026-10-24"}
    # F and H scanned, followed and were bound; H was given a coupon and redeemed it
    assert column(body, "before", "count") == [2, 2, 2, 1, 1]
    assert column(body, "before", "rate_from_previous") == [None, 1.0, 1.0, 0.5, 1.0]
    assert column(body, "change", "count") == [3, 2, 2, 1, 0]
    assert column(body, "change", "percent") == [1.5, 1.0, 1.0, 1.0, 0.0]
    assert column(body, "change", "rate_from_previous") == [None, -0.2, 0.0, 0.0, -0.5]
    before = funnel(client, auth, **{"from": "2026-10-18", "to": "2026-10-24"})
    assert column(before, "count") == column(body, "before", "count")
    assert column(before, "events") == column(body, "before", "events") == [2, 2, 2, 1, 1]


def test_a_store_and_a_guide_have_their_own_cohort(world, client, auth):
    assert column(funnel(client, auth, store="S2"), "count") == [1, 1, 1, 0, 0]  # G, by WeCom
    assert column(funnel(client, auth, guide="G1"), "count") == [4, 3, 3, 2, 1]  # A B C D scanned G1's code
    mine = client.get("/api/stats/funnel", query_string=PERIOD, headers=auth("guide", "G2")).get_json()
    assert column(mine, "count") == [1, 1, 1, 0, 0]


def test_the_page_shows_the_cohort_and_the_change(world, client, make_token):
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    text = page_text(client.get("/console/dashboard", query_string=PERIOD))
    assert [int(re.search(rf'data-stage="{s}">(\d+)<', text).group(1)) for s in STAGES] == [5, 4, 4, 2, 1]
    assert re.findall(r'data-rate="\w+">([\d.]+%)<', text) == ["80.0%", "100.0%", "50.0%", "50.0%"]
    assert [re.search(rf'data-before="{s}">(\d+)<', text).group(1) for s in STAGES] == ["2", "2", "2", "1", "1"]
    changes = [" ".join(re.search(rf'data-change="{s}">([^<]+)<', text).group(1).split()) for s in STAGES]
    assert changes == ["▲ +3 人 (+150.0%)", "▲ +2 人 (+100.0%)", "▲ +2 人 (+100.0%)", "▲ +1 人 (+100.0%)",
                       "= 持平"]
    assert re.search(r'data-events="bindings">\s*5 次绑定', text)
    assert "2026-10-18 – 2026-10-24" in text and 'id="nobody"' not in text
    periods, trend = re.findall(r'<svg class="chart".*?</svg>', text, re.S)[:2]
    assert re.findall(r'<rect class="(now|before)"[^>]*><title>([^<]+)</title>', periods)[:2] == \
        [("now", "扫码 本期: 5"), ("before", "扫码 上期: 2")]
    # the trend: the codes' events per day; on the 26th A and D scanned again, B followed and was bound, D bound
    day = re.search(r'<g class="day" data-day="2026-10-26">(.*?)</g>', trend).group(1)
    assert re.findall(r"<title>([^<]+)</title>", day) == ["10-26 扫码: 3", "10-26 关注: 1", "10-26 绑定: 2"]
    assert re.findall(r'<g class="day" data-day="([\d-]+)"', trend) == \
        ["2026-10-25", "2026-10-26", "2026-10-27", "2026-10-30"]  # days without a scan draw nothing


def test_a_period_nobody_scanned_in_says_so(world, client, make_token):
    assert client.post("/login", data={"token": make_token("manager")}).status_code == 302
    text = page_text(client.get("/console/dashboard", query_string={"from": "2026-09-01", "to": "2026-09-30"}))
    assert 'id="nobody"' in text and re.search(r'data-stage="scans">0<', text)
    assert "= 持平" in re.search(r'data-change="scans">([^<]+)<', text).group(1)
