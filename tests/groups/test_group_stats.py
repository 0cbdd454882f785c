"""Group statistics (社群数据, SPEC §9): members, joins, quits, net growth and customers of ours,
by day, group and owner, computed from groups really synced from the sandbox WeCom; joins by
live code from customers really joining through a code's ways (signed change_external_chat
callbacks); owners' SOP tasks sent on time from a real plan swept into WeCom group tasks; the
console page (Chinese and English) and ``GET /api/group-stats``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from group_world import scan_and_join, work_customer
from guide_world import create_guide, create_store
from scrm.clock import FrozenClock
from scrm.groups import code_stats, codes, sop_jobs, stats
from scrm.groups.models import GroupCode, GroupSopTask
from scrm.groups.sync import sync_groups
from scrm.sandbox import state, world
from web_world import log_in, page_text

NOW = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 10 November
DAY1 = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
DAY7 = datetime(2026, 11, 7, 2, 0, tzinfo=UTC)  # Saturday 10:00 in Shanghai


@pytest.fixture
def config_overrides() -> dict:
    return {"wechat.work.agent_secret": "sandbox-work-agent-secret"}


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


@pytest.fixture
def operated(synced, client, auth):  # noqa: ANN001, ANN201
    """On top of ``synced``, 7 Nov: live codes 门店活码 (A群, B群) and 新品活码 (B群); P joins
    through 门店活码 that day, Q through 新品活码 and R through 门店活码 on 8 Nov; a third code,
    停用活码 (B群), is retired with no joins. A group SOP over A群 and B群 makes one task per owner
    at 10:30 on 7 Nov (deadline 11:30): 王小美 (G1) sends hers at 10:45, 李大壮 (G2) at 11:40."""
    runtime, manager = synced, auth("manager")
    runtime.clock = FrozenClock(DAY7)

    def make_code(name: str, chat_ids: list[str]) -> int:
        made = client.post("/api/group-codes", json={"name": name, "chat_ids": chat_ids}, headers=manager)
        assert made.status_code == 201, made.get_json()
        return made.get_json()["id"]

    store_code, new_code = make_code("门店活码", ["wrA", "wrB"]), make_code("新品活码", ["wrB"])
    retired = make_code("停用活码", ["wrB"])
    assert client.delete(f"/api/group-codes/{retired}", headers=manager).status_code == 200
    plan = client.post("/api/group-sops", headers=manager, json={
        "name": "周末活动", "selector": {"kind": "name", "value": "*群"},
        "steps": [{"weekday": 6, "time": "10:30", "text": "周末到店有礼", "deadline_minutes": 60}]})
    assert plan.status_code == 201 and plan.get_json()["groups"] == 2, plan.get_json()

    with runtime.transaction() as db_session:
        way = {c: codes.own_way(db_session=db_session, code_id=c).config_id for c in (store_code, new_code)}
    assert scan_and_join(runtime, client, way[store_code], "wmP") == "wrA"
    runtime.clock.advance(minutes=31)
    sop_jobs.sweep()
    runtime.queue.run_pending()
    with runtime.transaction() as db_session:
        msgids = dict(db_session.execute(select(GroupSopTask.owner_userid, GroupSopTask.msgid)).all())
    assert set(msgids) == {"member-g1", "member-g2"}
    for userid, minutes in (("member-g1", 14), ("member-g2", 55)):
        runtime.clock.advance(minutes=minutes)
        state.send_msg_task(runtime.redis, msgids[userid], userid=userid)
        sop_jobs.sweep()
        runtime.queue.run_pending()
    runtime.clock.advance(days=1)
    assert scan_and_join(runtime, client, way[new_code], "wmQ") == "wrB"
    assert scan_and_join(runtime, client, way[store_code], "wmR") == "wrA"
    runtime.clock = FrozenClock(NOW)
    return runtime


def code_id(runtime, name: str) -> int:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(GroupCode.id).where(GroupCode.name == name))


def figures(runtime, by: str, first: str, last: str):  # noqa: ANN001, ANN201
    with runtime.transaction() as db_session:
        return stats.report(db_session=db_session, config=runtime.config, first=datetime.fromisoformat(first).date(),
                            last=datetime.fromisoformat(last).date(), by=by)


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
    assert (g1["sop_tasks"], g1["sop_on_time"]) == (0, 0)  # no group SOP yet


def codes_of(runtime, first: str, last: str) -> list[tuple[str, int, int]]:  # noqa: ANN001
    return [(c["name"], c["joined"], c["groups"]) for c in figures(runtime, "code", first, last)["rows"]]


def test_joins_by_live_code_per_day_and_period(operated):
    assert codes_of(operated, "2026-11-01", "2026-11-10") == [("门店活码", 2, 2), ("新品活码", 1, 1)]
    assert codes_of(operated, "2026-11-07", "2026-11-07") == [("门店活码", 1, 2), ("新品活码", 0, 1)]
    assert codes_of(operated, "2026-11-08", "2026-11-08") == [("门店活码", 1, 2), ("新品活码", 1, 1)]
    assert codes_of(operated, "2026-11-01", "2026-11-06") == [("门店活码", 0, 2), ("新品活码", 0, 1)]  # the retired: none
    days = {d["day"]: d["joined"] for d in figures(operated, "day", "2026-11-07", "2026-11-08")["rows"]}
    assert days == {"2026-11-07": 1, "2026-11-08": 2}  # the same joins, counted by the groups' sync
    with operated.transaction() as db_session:
        per_day = code_stats.joins_by_day(db_session=db_session, code_id=code_id(operated, "门店活码"),
                                          first=datetime(2026, 11, 6).date(), last=datetime(2026, 11, 8).date())
    assert [d["joined"] for d in per_day] == [0, 1, 1]


def test_each_owners_sop_tasks_sent_on_time(operated):
    owners = {o["owner_userid"]: o for o in figures(operated, "owner", "2026-11-01", "2026-11-10")["rows"]}
    assert (owners["member-g1"]["sop_tasks"], owners["member-g1"]["sop_on_time"]) == (1, 1)
    assert (owners["member-g2"]["sop_tasks"], owners["member-g2"]["sop_on_time"]) == (1, 0)  # sent 10 minutes late
    with operated.transaction() as db_session:
        late = db_session.scalar(select(GroupSopTask).where(GroupSopTask.owner_userid == "member-g2"))
        assert late.status == "sent" and late.sent_at.replace(tzinfo=UTC) == DAY7 + timedelta(minutes=100)
    before = {o["owner_userid"]: o for o in figures(operated, "owner", "2026-11-01", "2026-11-06")["rows"]}
    assert (before["member-g1"]["sop_tasks"], before["member-g2"]["sop_on_time"]) == (0, 0)  # due on the 7th


def test_the_api_by_role_and_bad_periods(synced, client, auth):
    body = client.get("/api/group-stats?from=2026-11-01&to=2026-11-10&by=group", headers=auth("manager")).get_json()
    assert body["by"] == "group" and {g["chat_id"] for g in body["rows"]} == {"wrA", "wrB", "wrC"}
    assert "available" not in body
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
    assert '<div id="t-members"><b>6</b>' in text and 'id="no-codes"' in text  # no live code yet
    assert re.search(r'<tr data-owner="member-g1">.*?<td class="num sop">0 / 0</td>', text, re.S)
    assert 'data-day="2026-11-03"><rect class="joined"' in text  # the chart's bar of that day's joins
    assert 'aria-current="page"' in text and "/console/group-stats" in text

    bad = client.get("/console/group-stats?from=2026-11-10&to=2026-11-01")
    assert bad.status_code == 422 and 'class="errors"' in page_text(bad)
    assert client.get("/console/group-stats?from=2026-13-01").status_code == 422


def test_the_page_shows_live_codes_and_sop_in_chinese_and_english(operated, client, make_token):
    log_in(client, make_token)
    url = "/console/group-stats?from=2026-11-01&to=2026-11-10"
    text = page_text(client.get(url))
    assert re.search(r'<tr data-owner="member-g1">.*?<td class="num sop">1 / 1</td>', text, re.S)
    assert re.search(r'<tr data-owner="member-g2">.*?<td class="num sop">0 / 1</td>', text, re.S)
    new = code_id(operated, "新品活码")
    assert re.search(rf'<tr data-code="{new}"><td><a href="/console/group-codes/{new}">新品活码</a></td>'
                     r'<td class="num groups">1</td><td class="num joined">1</td>', text)
    assert "停用活码" not in text and 'id="no-codes"' not in text and "按群活码" in text and "SOP 按时发送" in text

    client.post("/language", data={"lang": "en", "next": "/"})
    english = page_text(client.get(url))
    assert "By live code" in english and "SOP sent on time" in english and "Joined through the code" in english
    assert "按群活码" not in english and re.search(r'<td class="num sop">1 / 1</td>', english)
