"""Customer groups (客户群, SPEC §9): synced from the sandbox WeCom, kept up to date by the
change_external_chat callbacks, members linked to our customers, joins and quits per day,
and the API by role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from group_world import chat_xml, work_customer
from guide_world import create_guide, create_store, guide_id, send
from scrm.clock import FrozenClock
from scrm.groups.models import CustomerGroup, GroupDayStats, GroupMember
from scrm.groups.sync import sync_groups
from scrm.sandbox import world

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2 November


@pytest.fixture
def frozen(runtime):  # noqa: ANN001, ANN201
    from scrm.runtime import install

    runtime.clock = FrozenClock(NOW)
    install(runtime)
    create_store(runtime)
    create_guide(runtime, "G1")
    create_guide(runtime, "G2")
    return runtime


def group(runtime, chat_id: str) -> CustomerGroup:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return db_session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == chat_id))


def members(runtime, chat_id: str) -> dict[str, GroupMember]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(GroupMember).join(CustomerGroup, CustomerGroup.id == GroupMember.group_id)
                                  .where(CustomerGroup.chat_id == chat_id))
        return {m.userid: m for m in rows}


def day_stats(runtime, chat_id: str) -> dict[str, tuple[int, int]]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(GroupDayStats).join(CustomerGroup, CustomerGroup.id == GroupDayStats.group_id)
                                  .where(CustomerGroup.chat_id == chat_id))
        return {r.day.isoformat(): (r.joined, r.quit) for r in rows}


def test_the_sync_reads_every_group_links_customers_and_notes_who_left(frozen, monkeypatch):
    import scrm.groups.sync as sync

    monkeypatch.setattr(sync, "PAGE", 1)  # the cursor is followed
    amy = work_customer(frozen, "wmAmy")
    world.add_group_chat(frozen.redis, "wrVIP", owner="member-g1", name="静安店VIP群",
                         member_userids=["member-g2"], external_userids=["wmAmy", "wmStranger"], at=NOW)
    world.add_group_chat(frozen.redis, "wrOther", owner="someone-else", name="别人的群", external_userids=["wmBob"],
                         status=1, at=NOW - timedelta(days=3))
    assert sync_groups() == 2
    vip, other = group(frozen, "wrVIP"), group(frozen, "wrOther")
    assert (vip.name, vip.owner_userid, vip.owner_guide_id) == ("静安店VIP群", "member-g1", guide_id(frozen, "G1"))
    assert (vip.member_count, vip.external_count, vip.status) == (4, 2, "normal")
    assert (other.owner_guide_id, other.status) == (None, "handover")
    found = members(frozen, "wrVIP")
    assert found["wmAmy"].customer_id == amy and found["wmStranger"].customer_id is None
    assert (found["member-g2"].kind, found["member-g2"].customer_id) == (1, None)
    assert day_stats(frozen, "wrVIP") == {"2026-11-02": (4, 0)}
    assert day_stats(frozen, "wrOther") == {"2026-10-30": (2, 0)}

    frozen.clock.advance(days=1)
    world.remove_group_chat_members(frozen.redis, "wrVIP", userids=["wmStranger"])
    world.add_group_chat_members(frozen.redis, "wrVIP", external_userids=["wmCarl"], at=frozen.clock.now())
    carl = work_customer(frozen, "wmCarl")
    sync_groups()
    sync_groups()  # nothing changed in between: nothing counted twice
    found = members(frozen, "wrVIP")
    assert found["wmStranger"].left_at.replace(tzinfo=UTC) == NOW + timedelta(days=1)
    assert found["wmCarl"].customer_id == carl and found["wmAmy"].left_at is None
    assert day_stats(frozen, "wrVIP") == {"2026-11-02": (4, 0), "2026-11-03": (1, 1)}
    assert group(frozen, "wrVIP").member_count == 4


def test_chat_callbacks_refresh_the_group_with_one_job_each(frozen, client):
    amy = work_customer(frozen, "wmAmy")
    world.add_group_chat(frozen.redis, "wrNew", owner="member-g2", name="新品群", at=NOW)
    send(frozen, client, "work", chat_xml(frozen, "wrNew", "create"))
    assert frozen.queue.rq_queue("default").count == 1  # the webhook only queued the re-read
    frozen.queue.run_pending()
    assert (group(frozen, "wrNew").owner_guide_id, group(frozen, "wrNew").member_count) == (guide_id(frozen, "G2"), 1)

    frozen.clock.advance(hours=2)
    world.add_group_chat_members(frozen.redis, "wrNew", external_userids=["wmAmy", "wmBob"], at=frozen.clock.now())
    send(frozen, client, "work", chat_xml(frozen, "wrNew", "update", detail="add_member", members=("wmAmy", "wmBob")))
    frozen.queue.run_pending()
    assert members(frozen, "wrNew")["wmAmy"].customer_id == amy
    assert group(frozen, "wrNew").external_count == 2

    frozen.clock.advance(days=1)
    world.remove_group_chat_members(frozen.redis, "wrNew", userids=["wmBob"])
    xml = chat_xml(frozen, "wrNew", "update", detail="del_member", members=("wmBob",))
    send(frozen, client, "work", xml)
    send(frozen, client, "work", xml)  # WeChat's retry: the ledger keeps it once
    frozen.queue.run_pending()
    assert members(frozen, "wrNew")["wmBob"].left_at is not None
    assert day_stats(frozen, "wrNew") == {"2026-11-02": (3, 0), "2026-11-03": (0, 1)}

    send(frozen, client, "work", chat_xml(frozen, "wrNew", "dismiss"))
    frozen.queue.run_pending()
    dismissed = group(frozen, "wrNew")
    assert dismissed.status == "dismissed" and dismissed.dismissed_at.replace(tzinfo=UTC) == frozen.clock.now()


def test_a_group_wecom_no_longer_knows_is_dismissed_when_re_read(frozen, client):
    send(frozen, client, "work", chat_xml(frozen, "wrGone", "update", detail="change_name"))
    frozen.queue.run_pending()  # WeCom answers 40050: not ours to keep
    assert group(frozen, "wrGone") is None
    world.add_group_chat(frozen.redis, "wrGone", owner="member-g1", name="要解散的群", at=NOW)
    sync_groups()
    world.remove_group_chat(frozen.redis, "wrGone")
    sync_groups()
    assert group(frozen, "wrGone").status == "dismissed"


def test_the_api_shows_groups_by_role_with_members_and_days(frozen, client, auth):
    amy = work_customer(frozen, "wmAmy")
    world.add_group_chat(frozen.redis, "wrG1", owner="member-g1", name="G1的群", external_userids=["wmAmy"], at=NOW)
    world.add_group_chat(frozen.redis, "wrG2", owner="member-g2", name="G2的群", at=NOW - timedelta(days=1))
    sync_groups()
    listed = client.get("/api/groups", headers=auth("manager")).get_json()["groups"]
    assert [g["chat_id"] for g in listed] == ["wrG1", "wrG2"]
    own = client.get("/api/groups", headers=auth("guide", "G1")).get_json()["groups"]
    assert [g["chat_id"] for g in own] == ["wrG1"]
    assert client.get("/api/groups/wrG2", headers=auth("guide", "G1")).status_code == 404
    assert client.get("/api/groups/wrNone", headers=auth("admin")).status_code == 404
    assert client.get("/api/groups").status_code == 401

    detail = client.get("/api/groups/wrG1?from=2026-11-01&to=2026-11-03", headers=auth("guide", "G1")).get_json()
    assert detail["name"] == "G1的群" and detail["member_count"] == 2
    by_user = {m["userid"]: m for m in detail["members"]}
    assert by_user["wmAmy"]["customer_id"] == amy and by_user["wmAmy"]["kind"] == "external"
    assert by_user["member-g1"]["kind"] == "member"
    assert detail["days"] == [{"day": "2026-11-01", "joined": 0, "quit": 0},
                              {"day": "2026-11-02", "joined": 2, "quit": 0},
                              {"day": "2026-11-03", "joined": 0, "quit": 0}]
    assert client.get("/api/groups/wrG1?from=2026-11-05&to=2026-11-01", headers=auth()).status_code == 400
