"""Group statistics (社群数据, SPEC §9): members, joins, quits, net growth and customers of ours,
by day, group and owner, computed from groups really synced from the sandbox WeCom; the console
page and ``GET /api/group-stats``; the live-code and SOP figures through their sources."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from group_world import work_customer
from guide_world import create_guide, create_store
from scrm.clock import FrozenClock
from scrm.groups import stats
from scrm.groups.sync import sync_groups
from scrm.sandbox import world
from web_world import log_in, page_text

NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 10 November
DAY1 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def synced(runtime):  # noqa: ANN001, ANN201
    """1 Nov: 王小美 (G1) owns A群 (her, Amy of ours, X); G2 owns B群 (Y) and C群 (Z). 3 Nov:
    Bob (ours) and W join A群. 5 Nov: X quits A群. 6 Nov: C群 is dismissed. Today is 10 Nov."""
    from scrm.runtime import install

    runtime.clock = FrozenClock(DAY1)
    install(runtime)
    create_store(runtime)
    create_guide(runtime, "G1", name="王小美")
    create_guide(runtime, "G2", name="李大壮")
    work_customer(runtime, "wmAmy", "艾米")
    work_customer(runtime, "wmBob", "鲍勃")
    world.add_group_chat(runtime.redis, "wrA", owner="member-g1", name="A群", external_userids=["wmAmy", "wmX"], at=DAY1)
    world.add_group_chat(runtime.redis, "wrB", owner="member-g2", name="B群", external_userids=["wmY"], at=DAY1)
    world.add_group_chat(runtime.redis, "wrC", owner="member-g2", name="C群", external_userids=["wmZ"], at=DAY1)
    sync_groups()
    runtime.clock.advance(days=2)
    world.add_group_chat_members(runtime.redis, "wrA", external_userids=["wmBob", "wmW"], at=runtime.clock.now())
    sync_groups()
    runtime.clock.advance(days=2)
    world.remove_group_chat_members(runtime.redis, "wrA", userids=["wmX"])
    sync_groups()
    runtime.clock.advance(days=1)
    world.remove_group_chat(runtime.redis, "wrC")
    sync_groups()
    runtime.clock = FrozenClock(NOW)
    return install(runtime)


def figures(runtime, by: str, first: str, last: str, sources: stats.Sources | None = None):  # noqa: ANN001, ANN201
    with runtime.transaction() as db_session:
        return stats.report(db_session=db_session, config=runtime.config, first=datetime.fromisoformat(first).date(),
                            last=datetime.fromisoformat(last).date(), by=by, sources=sources)


def test_members_joins_quits_and_net_growth_by_day(synced):
    body = figures(synced, "day", "2026-10-31", "2026-11-10")
    days = {d["day"]: (d["joined"], d["quit"], d["net"], d["members"]) for d in body["rows"]}
    assert days["2026-10-31"] == (0, 0, 0, 0)
    assert days["2026-11-01"] == (7, 0, 7, 7)  # three owners and four customers
    assert days["2026-11-02"] == (0, 0, 0, 7)
    assert days["2026-11-03"] == (2, 0, 2, 9)
    assert days["2026-11-05"] == (0, 1, -1, 8)
    assert days["2026-11-06"] == (0, 0, 0, 6)  # C群 dismissed: its two members are no more
    assert days["2026-11-10"] == (0, 0, 0, 6)
    assert body["totals"] == {"joined": 9, "quit": 1, "net": 8, "members": 6, "members_before": 0}

    later = figures(synced, "day", "2026-11-04", "2026-11-05")
    assert later["totals"] == {"joined": 0, "quit": 1, "net": -1, "members": 8, "members_before": 9}


def test_by_group_and_by_owner_with_customers_of_ours(synced):
    groups = {g["chat_id"]: g for g in figures(synced, "group", "2026-11-01", "2026-11-10")["rows"]}
    a = groups["wrA"]
    assert (a["owner"], a["members"], a["ours"], a["joined"], a["quit"], a["net"]) == ("王小美", 4, 2, 5, 1, 4)
    assert (groups["wrB"]["members"], groups["wrB"]["ours"], groups["wrB"]["joined"]) == (2, 0, 2)
    assert (groups["wrC"]["status"], groups["wrC"]["members"]) == ("dismissed", 0)
    assert [g["chat_id"] for g in figures(synced, "group", "2026-11-07", "2026-11-10")["rows"]] == ["wrA", "wrB"]

    owners = {o["owner_userid"]: o for o in figures(synced, "owner", "2026-11-01", "2026-11-10")["rows"]}
    g1, g2 = owners["member-g1"], owners["member-g2"]
    assert (g1["owner"], g1["groups"], g1["members"], g1["ours"], g1["joined"], g1["quit"]) == ("王小美", 1, 4, 2, 5, 1)
    assert (g2["owner"], g2["groups"], g2["members"], g2["joined"], g2["quit"]) == ("李大壮", 1, 2, 4, 0)
    assert g1["sop_on_time"] is None  # no SOP source in this build


ASKED = []


def code_joins(db_session, first, last):  # noqa: ANN001, ANN201
    """What the live codes' part answers (their own tables are not in this build)."""
    ASKED.append((first.isoformat(), last.isoformat()))
    return [(1, "门店活码", 3, 2), (2, "新品活码", 5, 1)]  # code id, name, joins, groups on it


def sop_on_time(db_session, first, last):  # noqa: ANN001, ANN201
    """What the group SOP's part answers: owner → (sent on time, of all)."""
    return {"member-g1": (3, 4)}


def test_live_code_and_sop_figures_come_from_their_sources(synced):
    sources = stats.Sources(code_joins=code_joins, sop_on_time=sop_on_time)
    ASKED.clear()
    codes = figures(synced, "code", "2026-11-01", "2026-11-10", sources)
    assert codes["available"] and [c["name"] for c in codes["rows"]] == ["新品活码", "门店活码"]
    assert ASKED == [("2026-11-01", "2026-11-10")]
    owners = {o["owner_userid"]: o for o in figures(synced, "owner", "2026-11-01", "2026-11-10", sources)["rows"]}
    assert (owners["member-g1"]["sop_tasks"], owners["member-g1"]["sop_on_time"]) == (4, 3)
    assert (owners["member-g2"]["sop_tasks"], owners["member-g2"]["sop_on_time"]) == (0, 0)
    assert figures(synced, "code", "2026-11-01", "2026-11-10")["available"] is False


def test_the_api_by_role_and_bad_periods(synced, client, auth):
    body = client.get("/api/group-stats?from=2026-11-01&to=2026-11-10&by=group", headers=auth("manager")).get_json()
    assert body["by"] == "group" and {g["chat_id"] for g in body["rows"]} == {"wrA", "wrB", "wrC"}
    days = client.get("/api/group-stats", headers=auth("admin")).get_json()  # the last 30 days by day
    assert (days["from"], days["to"], len(days["rows"])) == ("2026-10-12", "2026-11-10", 30)
    assert client.get("/api/group-stats", headers=auth("guide", "G1")).status_code == 403
    bad = client.get("/api/group-stats?from=2026-11-10&to=2026-11-01", headers=auth("manager"))
    assert bad.status_code == 400 and bad.get_json()["error"] == "bad_query"
    assert client.get("/api/group-stats?by=store", headers=auth("manager")).status_code == 400


def test_the_console_page_shows_the_figures(synced, client, make_token):
    log_in(client, make_token)
    page = client.get("/console/group-stats?from=2026-11-01&to=2026-11-10")
    text = page_text(page)
    assert page.status_code == 200 and "社群数据" in text and "按群主" in text
    assert re.search(r'<tr data-chat="wrA">.*?<td class="num members">4</td><td class="num ours">2</td>'
                     r'<td class="num joined">5</td><td class="num quit">1</td><td class="num net">\+4</td>', text, re.S)
    assert re.search(r'<tr data-day="2026-11-03">.*?<td class="num members">9</td>', text, re.S)
    assert '<div id="t-members"><b>6</b>' in text and 'id="no-codes"' in text
    assert 'data-day="2026-11-03"><rect class="joined"' in text  # the chart's bar of that day's joins
    assert 'aria-current="page"' in text and "/console/group-stats" in text

    bad = client.get("/console/group-stats?from=2026-11-10&to=2026-11-01")
    assert bad.status_code == 422 and 'class="errors"' in page_text(bad)
    assert client.get("/console/group-stats?from=2026-13-01").status_code == 422


def test_the_page_shows_live_codes_and_sop_when_wired(synced, client, make_token, monkeypatch):
    monkeypatch.setattr(stats, "SOURCES", stats.Sources(code_joins=code_joins, sop_on_time=sop_on_time))
    log_in(client, make_token)
    text = page_text(client.get("/console/group-stats?from=2026-11-01&to=2026-11-10"))
    assert re.search(r'<tr data-owner="member-g1">.*?<td class="num sop">3 / 4</td>', text, re.S)
    assert re.search(r'<tr data-code="2"><td>新品活码</td><td class="num groups">1</td><td class="num joined">5</td>', text)
    assert 'id="no-codes"' not in text and 'id="no-sop"' not in text
