"""Group live codes (群活码, SPEC §9): a code over groups, WeCom's join way kept pointing at groups
with room as signed change_external_chat callbacks report joins (once per rotation, however
often WeCom calls), groups WeCom creates adopted, joins attributed by the way's state, the
nightly safety net, and the API's refusals. The sandbox plays WeCom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from guide_world import create_guide, create_store, guide_id, send
from scrm.groups import codes
from scrm.groups.code_reconcile import reconcile_codes
from scrm.groups.models import CustomerGroup, GroupCode, GroupCodeChat, GroupCodeDayStats, GroupCodeWay, GroupMember
from scrm.groups.sync import sync_groups
from scrm.sandbox import state, world
from scrm.sandbox.world_docs import _change_group

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, 2 November
UPDATE = "externalcontact/groupchat/update_join_way"
ADD = "externalcontact/groupchat/add_join_way"


@pytest.fixture
def world_of_groups(frozen):  # noqa: ANN001, ANN201
    create_store(frozen)
    create_guide(frozen, "G1")
    create_guide(frozen, "G2")
    world.add_group_chat(frozen.redis, "wr1", owner="member-g1", name="福利群1", at=NOW)
    world.add_group_chat(frozen.redis, "wr2", owner="member-g2", name="福利群2", at=NOW)
    world.add_group_chat(frozen.redis, "wrGone", owner="member-g1", name="解散了", at=NOW)
    sync_groups()
    with frozen.transaction() as db_session:
        db_session.get(CustomerGroup, _group_id(db_session, "wrGone")).status = "dismissed"
    return frozen


def _group_id(db_session, chat_id: str) -> int:  # noqa: ANN001
    return db_session.scalar(select(CustomerGroup.id).where(CustomerGroup.chat_id == chat_id))


def chat_xml(runtime, chat_id: str, change_type: str, *, detail: str = "", members: tuple[str, ...] = ()) -> str:  # noqa: ANN001
    """A change_external_chat callback as WeCom sends it (a join through a way: JoinScene 3)."""
    fields = {"ToUserName": runtime.config.wechat.work.corp_id, "FromUserName": "sys",
              "CreateTime": int(runtime.clock.now().timestamp()), "MsgType": "event",
              "Event": "change_external_chat", "ChatId": chat_id, "ChangeType": change_type}
    if detail:
        fields |= {"UpdateDetail": detail, "JoinScene": 3, "MemChangeCnt": len(members)}
    body = "".join(f"<{k}>{v}</{k}>" if isinstance(v, int) else f"<{k}><![CDATA[{v}]]></{k}>"
                   for k, v in fields.items())
    if members:
        body += "<MemChangeList>" + "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members) + "</MemChangeList>"
    return f"<xml>{body}</xml>"


def scan_and_join(runtime, client, config_id: str, external_userid: str, *, times: int = 1) -> str:  # noqa: ANN001
    """A customer scans the way's code: WeCom puts them in the first group on the way (ours
    only lists groups with room), with the way's state and join_scene 3, and calls back
    (``times`` deliveries of the same callback). Returns the group joined."""
    way = world.get_join_way(runtime.redis, config_id)
    chat_id = way["chat_id_list"][0]
    at = int(runtime.clock.now().timestamp())

    def join(chat: dict) -> None:
        chat["member_list"].append({"userid": external_userid, "type": 2, "join_time": at, "join_scene": 3,
                                    "state": way["state"], "invitor": {"userid": chat["owner"]}})

    _change_group(runtime.redis, chat_id, join)
    xml = chat_xml(runtime, chat_id, "update", detail="add_member", members=(external_userid,))
    for _ in range(times):
        send(runtime, client, "work", xml)
    runtime.queue.run_pending()
    return chat_id


def updates(runtime, config_id: str | None = None) -> int:  # noqa: ANN001
    calls = state.list_calls(runtime.redis, channel="work", api=UPDATE)
    return sum(1 for c in calls if config_id is None or c["body"]["config_id"] == config_id)


def own_way(runtime, code_id: int) -> GroupCodeWay:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return codes.own_way(db_session=db_session, code_id=code_id)


def on_code(runtime, code_id: int) -> list[str]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return list(db_session.scalars(
            select(CustomerGroup.chat_id).join(GroupCodeChat, GroupCodeChat.group_id == CustomerGroup.id)
            .where(GroupCodeChat.code_id == code_id, GroupCodeChat.removed_at.is_(None))
            .order_by(GroupCodeChat.position)))


def joins(runtime, code_id: int) -> dict[tuple[str, str, str], int]:  # noqa: ANN001
    """(state, chat_id, day) → joins counted for the code."""
    with runtime.transaction() as db_session:
        rows = db_session.execute(
            select(GroupCodeWay.state, CustomerGroup.chat_id, GroupCodeDayStats.day, GroupCodeDayStats.joined)
            .join(GroupCodeWay, GroupCodeWay.id == GroupCodeDayStats.way_id)
            .join(CustomerGroup, CustomerGroup.id == GroupCodeDayStats.group_id)
            .where(GroupCodeDayStats.code_id == code_id))
        return {(s, c, d.isoformat()): n for s, c, d, n in rows}


def test_a_full_group_leaves_the_code_once_however_often_wecom_calls(world_of_groups, client, manager):
    runtime = world_of_groups
    made = client.post("/api/group-codes", json={"name": "福利群活码", "chat_ids": ["wr1", "wr2"], "member_limit": 3},
                       headers=manager)
    assert made.status_code == 201, made.json
    code_id = made.json["id"]
    config_id = own_way(runtime, code_id).config_id
    assert world.get_join_way(runtime.redis, config_id)["chat_id_list"] == ["wr1", "wr2"]
    assert world.get_join_way(runtime.redis, config_id)["state"] == f"gc{code_id}"

    assert scan_and_join(runtime, client, config_id, "wmAmy") == "wr1"  # 2 of 3: still on the code
    assert updates(runtime) == 0 and on_code(runtime, code_id) == ["wr1", "wr2"]
    assert scan_and_join(runtime, client, config_id, "wmBob", times=3) == "wr1"  # 3 of 3; WeCom retried twice
    assert on_code(runtime, code_id) == ["wr2"]
    assert world.get_join_way(runtime.redis, config_id)["chat_id_list"] == ["wr2"]
    assert updates(runtime, config_id) == 1

    runtime.clock.advance(minutes=5)  # another member event of the full group: no second push
    world.add_group_chat_members(runtime.redis, "wr1", external_userids=["wmLate"], at=runtime.clock.now())
    send(runtime, client, "work", chat_xml(runtime, "wr1", "update", detail="add_member", members=("wmLate",)))
    runtime.queue.run_pending()
    assert updates(runtime) == 1

    runtime.clock.advance(days=1)
    assert scan_and_join(runtime, client, config_id, "wmCarl") == "wr2"  # the fourth joiner: the group with room
    with runtime.transaction() as db_session:
        wr1 = db_session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == "wr1"))
        carl = db_session.scalar(select(GroupMember).where(GroupMember.userid == "wmCarl"))
        assert (wr1.member_count, carl.state, carl.join_scene) == (4, f"gc{code_id}", 3)
        row = db_session.scalar(select(GroupCodeChat).where(GroupCodeChat.group_id == wr1.id))
        assert (row.removed_reason, row.removed_at.replace(tzinfo=UTC)) == ("full", NOW)
    assert joins(runtime, code_id) == {(f"gc{code_id}", "wr1", "2026-11-02"): 2,
                                       (f"gc{code_id}", "wr2", "2026-11-03"): 1}  # wmLate came by no code

    shown = client.get(f"/api/group-codes/{code_id}", headers=manager).json
    assert [(g["chat_id"], g["member_count"]) for g in shown["groups"]] == [("wr2", 2)]
    assert [(g["chat_id"], g["removed_reason"]) for g in shown["removed"]] == [("wr1", "full")]
    assert {d["day"]: d["joined"] for d in shown["days"] if d["joined"]} == {"2026-11-02": 2, "2026-11-03": 1}
    assert (shown["joined_today"], shown["joined_7_days"], shown["full"]) == (1, 3, False)
    image = client.get(shown["qrcode_url"], headers=manager)
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")


def test_guides_and_campaigns_hand_out_their_own_ways_and_each_is_told_once(world_of_groups, client, manager):
    runtime = world_of_groups
    code_id = client.post("/api/group-codes", json={"name": "新品群", "chat_ids": ["wr1", "wr2"], "member_limit": 2},
                          headers=manager).json["id"]
    g1 = guide_id(runtime, "G1")
    guide_way = codes.way_for(runtime=runtime, code_id=code_id, source="guide", source_id=g1)
    again = codes.way_for(runtime=runtime, code_id=code_id, source="guide", source_id=g1)
    campaign_way = codes.way_for(runtime=runtime, code_id=code_id, source="campaign", source_id=7)
    ways = {w.state: w.config_id for w in (guide_way, again, campaign_way)}
    assert again == guide_way and guide_way.qr_code.endswith(f"/join_way/{guide_way.config_id}.png")
    assert set(ways) == {f"gc{code_id}g{g1}", f"gc{code_id}c7"}
    assert len(state.list_calls(runtime.redis, channel="work", api=ADD)) == 3  # the code's own, the guide's, the campaign's

    assert scan_and_join(runtime, client, ways[f"gc{code_id}g{g1}"], "wmAmy") == "wr1"  # wr1 is full: 2 of 2
    for config_id in (*ways.values(), own_way(runtime, code_id).config_id):
        assert world.get_join_way(runtime.redis, config_id)["chat_id_list"] == ["wr2"]
        assert updates(runtime, config_id) == 1
    assert scan_and_join(runtime, client, ways[f"gc{code_id}c7"], "wmBob") == "wr2"
    assert joins(runtime, code_id) == {(f"gc{code_id}g{g1}", "wr1", "2026-11-02"): 1,
                                       (f"gc{code_id}c7", "wr2", "2026-11-02"): 1}
    # wr2 is full too and WeCom keeps a way on one group at least: the code says so
    assert client.get(f"/api/group-codes/{code_id}", headers=manager).json["full"] is True
    assert updates(runtime) == 3


def test_a_group_wecom_creates_for_the_code_is_adopted_with_its_owner(world_of_groups, client, manager):
    runtime = world_of_groups
    made = client.post("/api/group-codes", json={"name": "自动建群", "chat_ids": [], "auto_create": True,
                                                 "room_base_name": "自动群", "member_limit": 100}, headers=manager)
    assert made.status_code == 201, made.json
    code_id = made.json["id"]
    config_id = own_way(runtime, code_id).config_id
    way = world.get_join_way(runtime.redis, config_id)
    assert (way["chat_id_list"], way["auto_create_room"], way["room_base_name"]) == ([], 1, "自动群")

    world.add_group_chat(runtime.redis, "wrAuto", owner="member-g2", name="自动群1", at=runtime.clock.now())
    world.save_join_way(runtime.redis, {**way, "chat_id_list": ["wrAuto"], "room_base_id": 2})  # WeCom made it
    send(runtime, client, "work", chat_xml(runtime, "wrAuto", "create"))
    runtime.queue.run_pending()

    assert on_code(runtime, code_id) == ["wrAuto"]
    with runtime.transaction() as db_session:
        group = db_session.scalar(select(CustomerGroup).where(CustomerGroup.chat_id == "wrAuto"))
        assert group.owner_guide_id == guide_id(runtime, "G2")
        assert db_session.get(GroupCode, code_id).room_base_id == 2
    assert updates(runtime) == 0  # WeCom's way already lists it


def test_the_reconciliation_catches_a_group_filled_while_callbacks_were_lost(world_of_groups, client, manager):
    runtime = world_of_groups
    code_id = client.post("/api/group-codes", json={"name": "补漏", "chat_ids": ["wr1", "wr2"], "member_limit": 3},
                          headers=manager).json["id"]
    world.add_group_chat_members(runtime.redis, "wr2", external_userids=["wmA", "wmB"], at=runtime.clock.now())
    assert reconcile_codes() == 1
    runtime.queue.run_pending()
    assert on_code(runtime, code_id) == ["wr1"]
    assert world.get_join_way(runtime.redis, own_way(runtime, code_id).config_id)["chat_id_list"] == ["wr1"]
    reconcile_codes()
    runtime.queue.run_pending()
    assert updates(runtime) == 1


def test_a_change_is_pushed_once_and_retiring_deletes_the_ways(world_of_groups, client, manager):
    runtime = world_of_groups
    code_id = client.post("/api/group-codes", json={"name": "改一改", "chat_ids": ["wr1"]}, headers=manager).json["id"]
    config_id = own_way(runtime, code_id).config_id
    changed = client.patch(f"/api/group-codes/{code_id}", json={"chat_ids": ["wr2", "wr1"], "member_limit": 300},
                           headers=manager)
    assert changed.status_code == 200 and [g["chat_id"] for g in changed.json["groups"]] == ["wr2", "wr1"]
    runtime.queue.run_pending()
    runtime.queue.run_pending()
    assert world.get_join_way(runtime.redis, config_id)["chat_id_list"] == ["wr2", "wr1"] and updates(runtime) == 1

    send(runtime, client, "work", chat_xml(runtime, "wr2", "dismiss"))
    runtime.queue.run_pending()
    assert on_code(runtime, code_id) == ["wr1"] and updates(runtime) == 2

    retired = client.delete(f"/api/group-codes/{code_id}", headers=manager)
    assert retired.status_code == 200 and retired.json["status"] == "retired"
    runtime.queue.run_pending()
    assert world.get_join_way(runtime.redis, config_id) is None
    shown = client.get(f"/api/group-codes/{code_id}", headers=manager).json
    assert [g["removed_reason"] for g in shown["removed"]] == ["dismissed"] and shown["groups"][0]["chat_id"] == "wr1"


@pytest.mark.parametrize("body", [
    {"name": "六个群", "chat_ids": ["wr1", "wr2", "wr3", "wr4", "wr5", "wr6"]},
    {"name": "零", "chat_ids": ["wr1"], "member_limit": 0},
    {"name": "太多", "chat_ids": ["wr1"], "member_limit": 501},
    {"name": "没有这个群", "chat_ids": ["wrNope"]},
    {"name": "解散的群", "chat_ids": ["wrGone"]},
    {"name": "", "chat_ids": ["wr1"]},
    {"name": "   ", "chat_ids": ["wr1"]},
    {"name": "没有群", "chat_ids": []},
    {"name": "自动建群没名字", "chat_ids": [], "auto_create": True},
    {"name": "重复", "chat_ids": ["wr1", "wr1"]},
])
def test_bad_input_is_refused_and_nothing_is_written(world_of_groups, client, manager, body):
    refused = client.post("/api/group-codes", json=body, headers=manager)
    assert refused.status_code == 422, refused.json
    assert refused.json["error"] == "unprocessable" and refused.json["field"] in ("name", "chat_ids", "member_limit",
                                                                                  "room_base_name")
    with world_of_groups.transaction() as db_session:
        assert db_session.scalar(select(func.count()).select_from(GroupCode)) == 0
    assert state.list_calls(world_of_groups.redis, channel="work", api=ADD) == []


def test_a_full_group_or_an_unknown_code_is_refused(world_of_groups, client, manager, auth):
    code_id = client.post("/api/group-codes", json={"name": "码", "chat_ids": ["wr1"]}, headers=manager).json["id"]
    full = client.patch(f"/api/group-codes/{code_id}", json={"chat_ids": ["wr2"], "member_limit": 1}, headers=manager)
    assert full.status_code == 422 and full.json["field"] == "chat_ids"
    assert on_code(world_of_groups, code_id) == ["wr1"]
    for method, path in (("get", "/api/group-codes/999"), ("patch", "/api/group-codes/999"),
                         ("delete", "/api/group-codes/999"), ("get", "/api/group-codes/999/qrcode.png"),
                         ("get", f"/api/group-codes/{10**12}")):
        answer = getattr(client, method)(path, json={"name": "x"} if method == "patch" else None, headers=manager)
        assert answer.status_code == 404, (method, path)
    assert client.get("/api/group-codes", headers=auth("guide", "G1")).status_code == 403
    listed = client.get("/api/group-codes", headers=manager).json["group_codes"]
    assert [(c["id"], [g["chat_id"] for g in c["groups"]]) for c in listed] == [(code_id, ["wr1"])]
