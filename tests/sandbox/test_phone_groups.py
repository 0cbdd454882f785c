"""The sandbox plays customer groups (SPEC §10): a phone customer scans a group live code (a
WeCom join way) and is put in the first chat that is not full, or in a room WeCom makes when
``auto_create_room`` fires; quits; the product hears it through signed ``change_external_chat``
callbacks and its re-read job stores it; owners send their group messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from handlers.models import CallbackRecord
from scrm.customers.models import CustomerIdentity
from scrm.groups.models import CustomerGroup, GroupMember
from scrm.sandbox import group_callbacks, store, world
from scrm.sandbox.world_joins import CHAT_MEMBER_LIMIT, JOIN_WAY
from web_world import log_in

NOW = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
JOIN = "/sandbox/phone/api/groups/join"
QUIT = "/sandbox/phone/api/groups/quit"
GROUPS = "/sandbox/phone/api/groups"


@pytest.fixture(autouse=True)
def admin_session(client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "admin")


def full_chat(redis, chat_id: str, *, owner: str = "zhangsan", name: str = "") -> None:  # noqa: ANN001
    world.add_group_chat(redis, chat_id, owner=owner, name=name or chat_id,
                         external_userids=[f"wmFill{chat_id}{i}" for i in range(CHAT_MEMBER_LIMIT - 1)], at=NOW)


def save_way(config_id: str, chat_ids: list[str], *, auto: int = 0, base: str = "", base_id: int = 1,
             state: str = "gc_live1", **extra) -> None:  # noqa: ANN003
    store.save_doc(JOIN_WAY, config_id, {
        "config_id": config_id, "scene": 2, "remark": f"活码 {config_id}", "auto_create_room": auto,
        "room_base_name": base, "room_base_id": base_id, "chat_id_list": chat_ids, "state": state,
        "qr_code": f"http://sandbox.test/sandbox/wechat/work/join_way/{config_id}.png", **extra})


def snapshot(redis) -> tuple:  # noqa: ANN001
    with store.transaction() as session:
        return store.docs(session, JOIN_WAY), world.group_chats(redis)


# ---- the world -----------------------------------------------------------------------------


def test_a_scan_joins_the_first_chat_that_is_not_full_with_scene_3_and_the_state(frozen):
    redis = frozen.redis
    full_chat(redis, "wrFull")
    world.add_group_chat(redis, "wrRoom", owner="lisi", name="宝妈二群", at=NOW)
    world.add_group_chat(redis, "wrLater", owner="lisi", name="宝妈三群", at=NOW)
    save_way("cw1", ["wrFull", "wrRoom", "wrLater"])

    joined = world.join_via_way(redis, "cw1", "wmAmy", at=NOW)
    assert (joined.chat_id, joined.created, joined.member_count, joined.name) == ("wrRoom", False, 2, "宝妈二群")
    entry = world.get_group_chat(redis, "wrRoom")["member_list"][-1]
    assert entry == {"userid": "wmAmy", "type": 2, "join_time": int(NOW.timestamp()), "join_scene": 3,
                     "invitor": {"userid": "lisi"}, "state": "gc_live1"}
    assert len(world.get_group_chat(redis, "wrFull")["member_list"]) == CHAT_MEMBER_LIMIT

    with pytest.raises(world.JoinRefused) as refused:
        world.join_via_way(redis, "cw1", "wmAmy", at=NOW)  # already in: nothing changes
    assert (refused.value.code, refused.value.chat_id) == ("already_member", "wrRoom")
    assert len(world.get_group_chat(redis, "wrRoom")["member_list"]) == 2
    with pytest.raises(world.JoinRefused) as unknown:
        world.join_via_way(redis, "nope", "wmAmy", at=NOW)
    assert unknown.value.code == "unknown_way"


def test_every_chat_full_with_auto_create_makes_a_room_named_base_and_id_on_the_way(frozen):
    redis = frozen.redis
    full_chat(redis, "wrA", owner="zhangsan")
    full_chat(redis, "wrB", owner="lisi")
    save_way("cw2", ["wrA", "wrB"], auto=1, base="宝妈群", base_id=3)

    joined = world.join_via_way(redis, "cw2", "wmAmy", at=NOW)
    assert joined.created and joined.name == "宝妈群3" and joined.member_count == 2
    room = world.get_group_chat(redis, joined.chat_id)
    assert room["owner"] == "lisi"  # the last chat's owner: the sandbox's choice
    assert [m["userid"] for m in room["member_list"]] == ["lisi", "wmAmy"]
    way = store.doc(JOIN_WAY, "cw2")
    assert way["chat_id_list"] == ["wrA", "wrB", joined.chat_id] and way["room_base_id"] == 4

    again = world.join_via_way(redis, "cw2", "wmBob", at=NOW)
    assert (again.chat_id, again.created, again.member_count) == (joined.chat_id, False, 3)


def test_a_way_of_five_full_chats_drops_the_first_for_its_new_room(frozen):
    for i in range(5):
        full_chat(frozen.redis, f"wr{i}")
    save_way("cw5", [f"wr{i}" for i in range(5)], auto=1, base="群")
    joined = world.join_via_way(frozen.redis, "cw5", "wmAmy", at=NOW)
    assert store.doc(JOIN_WAY, "cw5")["chat_id_list"] == ["wr1", "wr2", "wr3", "wr4", joined.chat_id]


def test_every_chat_full_without_auto_create_is_refused_and_nothing_changes(frozen):
    full_chat(frozen.redis, "wrA")
    save_way("cw3", ["wrA"], auto=0, base="宝妈群")
    before = snapshot(frozen.redis)
    with pytest.raises(world.JoinRefused) as refused:
        world.join_via_way(frozen.redis, "cw3", "wmAmy", at=NOW)
    assert refused.value.code == "group_full"
    assert snapshot(frozen.redis) == before


def test_the_change_external_chat_xml_reads_as_the_webhook_reads_wecoms():
    from pathlib import Path

    from handlers import wire
    from handlers.events import parse_callback

    xml = group_callbacks.chat_xml(corp_id="ww1", chat_id="wrA", change_type="update", create_time=1700000000,
                                   detail="add_member", join_scene=3, members=["wmAmy"], last_version="a",
                                   current_version="b")
    ours = parse_callback("work", wire.parse_xml(xml))
    assert (ours.change_type, ours.chat_id, ours.update_detail, ours.join_scene, ours.quit_scene, ours.members) == (
        "update", "wrA", "add_member", 3, 0, ("wmAmy",))
    sample = Path(__file__).parents[2] / "../shared/wechat-samples/work_change_external_chat_update_add_member.xml"
    if sample.exists():  # WeCom's own sample has the same fields, in the same order
        fields = list(wire.parse_xml(sample.read_text()))
        assert list(wire.parse_xml(xml)) == fields


# ---- the phone, through its JSON api -------------------------------------------------------


def new_customer(client, nickname: str = "小美") -> str:  # noqa: ANN001
    response = client.post("/sandbox/phone/api/customers", json={"nickname": nickname})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["openid"]


def product_members(runtime, chat_id: str) -> dict[str, GroupMember]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        rows = db_session.scalars(select(GroupMember).join(CustomerGroup, CustomerGroup.id == GroupMember.group_id)
                                  .where(CustomerGroup.chat_id == chat_id))
        return {m.userid: m for m in rows}


def chat_callbacks(runtime) -> list[dict]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        return [r.payload for r in db_session.scalars(select(CallbackRecord).where(CallbackRecord.kind == "chat_change")
                                                      .order_by(CallbackRecord.id))]


def test_a_phone_customer_scans_joins_and_quits_and_the_product_follows(frozen, client, monkeypatch):
    redis = frozen.redis
    full_chat(redis, "wrFull", owner="zhangsan")
    save_way("cw1", ["wrFull"], auto=1, base="宝妈群", base_id=1, state="gc_live1")
    openid = new_customer(client)
    posted = []
    real_post = requests.post

    def spy(url, **kwargs):  # noqa: ANN001, ANN003, ANN202
        posted.append(url)
        return real_post(url, **kwargs)

    monkeypatch.setattr(group_callbacks.requests, "post", spy)

    ways = client.get("/sandbox/phone/api/join-ways").get_json()["join_ways"]
    assert [(w["config_id"], w["state"], w["url"]) for w in ways] == [
        ("cw1", "gc_live1", "http://sandbox.test/sandbox/wechat/work/join_way/cw1")]
    response = client.post(JOIN, json={"openid": openid, "url": ways[0]["url"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    chat_id = body["joined"]["chat_id"]
    assert body["joined"] == {"chat_id": chat_id, "name": "宝妈群1", "created": True, "member_count": 2,
                              "state": "gc_live1"}
    assert [m["text"] for m in body["messages"]] == ["你已加入群「宝妈群1」"]
    # WeCom's two callbacks, sealed and signed to the work webhook, taken by the product
    assert len(posted) == 2 and all(u.startswith(frozen.config.server.public_base_url + "/wechat/work?") for u in posted)
    assert [(p["ChangeType"], p.get("UpdateDetail"), p.get("JoinScene")) for p in chat_callbacks(frozen)] == [
        ("create", None, None), ("update", "add_member", "3")]

    frozen.queue.run_pending()  # the product re-reads the group
    external_userid = world.wecom_identity(redis, openid, keep=False)
    member = product_members(frozen, chat_id)[external_userid]
    assert (member.kind, member.join_scene, member.left_at, member.name) == (2, 3, None, "小美")
    wecom = frozen.work.group_chat(chat_id)  # what the product reads: the way's state on the member
    assert [m.get("state") for m in wecom.raw["member_list"] if m["userid"] == external_userid] == ["gc_live1"]

    listed = client.get(GROUPS, query_string={"openid": openid}).get_json()["groups"]
    assert [(g["chat_id"], g["name"], g["member_count"], g["state"]) for g in listed] == [
        (chat_id, "宝妈群1", 2, "gc_live1")]
    shown = client.get("/sandbox/phone/api/conversation", query_string={"openid": openid}).get_json()["messages"]
    assert [m["text"] for m in shown] == ["你已加入群「宝妈群1」"]

    frozen.clock.advance(hours=1)
    left = client.post(QUIT, json={"openid": openid, "chat_id": chat_id})
    assert left.status_code == 200 and left.get_json()["groups"] == []
    last = chat_callbacks(frozen)[-1]
    assert (last["ChangeType"], last["UpdateDetail"], last["QuitScene"], last["MemChangeList"]) == (
        "update", "del_member", "0", {"Item": external_userid})
    frozen.queue.run_pending()
    assert product_members(frozen, chat_id)[external_userid].left_at.replace(tzinfo=UTC) == NOW + timedelta(hours=1)
    again = client.post(QUIT, json={"openid": openid, "chat_id": chat_id})
    assert again.status_code == 409 and again.get_json()["error"] == "not_a_member"


def test_a_way_the_product_made_with_add_join_way_is_scanned_by_its_qr_content(frozen, client):
    full_chat(frozen.redis, "wrA", owner="wangwu")
    config_id = frozen.work.add_join_way(chat_ids=["wrA"], state="gc_made", remark="门店群码",
                                         auto_create_room=True, room_base_name="门店群", room_base_id=7)
    scanned = frozen.work.get_join_way(config_id).qr_code.removesuffix(".png")  # what the QR holds
    openid = new_customer(client)
    joined = client.post(JOIN, json={"openid": openid, "url": scanned}).get_json()["joined"]
    assert (joined["name"], joined["created"], joined["state"]) == ("门店群7", True, "gc_made")
    way = frozen.work.get_join_way(config_id)  # WeCom put the new room on the way and counted up
    assert way.chat_ids == ("wrA", joined["chat_id"]) and way.room_base_id == 8
    assert world.get_group_chat(frozen.redis, joined["chat_id"])["owner"] == "wangwu"


def test_a_full_code_is_refused_on_the_phone_with_nothing_sent(frozen, client):
    full_chat(frozen.redis, "wrFull")
    save_way("cw1", ["wrFull"], auto=0)
    openid = new_customer(client)
    before = snapshot(frozen.redis)
    refused = client.post(JOIN, json={"openid": openid, "config_id": "cw1"})
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "group_full" and refused.get_json()["message"] == "群已满"
    assert snapshot(frozen.redis) == before and chat_callbacks(frozen) == []
    unknown = client.post(JOIN, json={"openid": openid, "config_id": "cw404"})
    assert unknown.status_code == 404 and unknown.get_json()["error"] == "unknown_way"
    for bad in ({"openid": openid, "url": "https://example.com/x"}, {"openid": openid}, {"config_id": "cw1"}):
        response = client.post(JOIN, json=bad)
        assert response.status_code == 400 and response.get_json()["error"] == "invalid_action"


def test_joining_twice_changes_nothing(frozen, client):
    world.add_group_chat(frozen.redis, "wrA", owner="lisi", name="一群", at=NOW)
    save_way("cw1", ["wrA"])
    openid = new_customer(client)
    assert client.post(JOIN, json={"openid": openid, "config_id": "cw1"}).status_code == 200
    before, sent = snapshot(frozen.redis), len(chat_callbacks(frozen))
    twice = client.post(JOIN, json={"openid": openid, "config_id": "cw1"})
    assert twice.status_code == 409 and twice.get_json()["message"] == "你已在群「一群」中"
    assert snapshot(frozen.redis) == before and len(chat_callbacks(frozen)) == sent


def test_a_follower_who_is_a_guides_contact_joins_as_that_contact_and_is_linked(frozen, client):
    from guide_world import send
    from handlers.signed_callbacks import work_contact_xml

    redis = frozen.redis
    openid = new_customer(client, "阿杰")
    world.add_follower(redis, openid, unionid="uJie")
    world.add_external_contact(redis, "wmJie", userid="zhangsan", unionid="uJie", at=NOW)
    send(frozen, client, "work", work_contact_xml(corp_id=frozen.config.wechat.work.corp_id,
                                                  change_type="add_external_contact", userid="zhangsan",
                                                  external_userid="wmJie", create_time=int(NOW.timestamp())))
    world.add_group_chat(redis, "wrA", owner="zhangsan", name="一群", at=NOW)
    save_way("cw1", ["wrA"])
    assert client.post(JOIN, json={"openid": openid, "config_id": "cw1"}).status_code == 200
    frozen.queue.run_pending()
    with frozen.transaction() as db_session:
        jie = db_session.scalar(select(CustomerIdentity.customer_id).where(CustomerIdentity.external_id == "wmJie"))
    assert product_members(frozen, "wrA")["wmJie"].customer_id == jie


def test_the_phone_shows_the_welcome_the_groups_owner_applied(frozen, client, manager):
    redis = frozen.redis
    template_id = frozen.work.add_group_welcome_template(text="%NICKNAME%，欢迎入群", image_media_id=None, link=None,
                                                         notify=True)
    world.add_group_chat(redis, "wrA", owner="lisi", name="一群", at=NOW)
    save_way("cw1", ["wrA"], auto=1, base="自动群", welcome_template_id=template_id)  # a way's field is not used
    first = client.post(JOIN, json={"openid": new_customer(client, "阿强"), "config_id": "cw1"}).get_json()
    assert [m["from"] for m in first["messages"]] == ["note"]  # the owner applied no welcome yet

    apply = "/api/sandbox/work/groups/wrA/welcome"
    assert client.post(apply, json={"template_id": "nope"}, headers=manager).status_code == 404
    assert client.post("/api/sandbox/work/groups/wrNope/welcome", json={"template_id": template_id},
                       headers=manager).status_code == 404
    assert client.post(apply, json={"template": template_id}, headers=manager).status_code == 400
    assert "welcome_template_id" not in world.get_group_chat(redis, "wrA")
    applied = client.post(apply, json={"template_id": template_id}, headers=manager)
    assert applied.status_code == 200 and applied.get_json() == {"chat_id": "wrA", "welcome_template_id": template_id}

    body = client.post(JOIN, json={"openid": new_customer(client), "config_id": "cw1"}).get_json()
    assert [(m["from"], m["text"]) for m in body["messages"]] == [("note", "你已加入群「一群」"), ("group", "小美，欢迎入群")]

    # wrA full: WeCom makes a room for the way, which (the sandbox's choice) keeps the last group's welcome
    world.add_group_chat_members(redis, "wrA", external_userids=[f"wmF{i}" for i in range(CHAT_MEMBER_LIMIT - 3)],
                                 at=NOW)
    made = client.post(JOIN, json={"openid": new_customer(client, "阿珍"), "config_id": "cw1"}).get_json()
    assert made["joined"]["created"] is True and made["messages"][-1]["text"] == "阿珍，欢迎入群"
    assert client.post(apply, json={"template_id": None}, headers=manager).status_code == 200
    assert "welcome_template_id" not in world.get_group_chat(redis, "wrA")


def test_the_owner_sends_a_group_message_and_members_see_it_in_the_group(frozen, client):
    redis = frozen.redis
    world.add_group_chat(redis, "wrA", owner="lisi", name="一群", at=NOW)
    save_way("cw1", ["wrA"])
    openid = new_customer(client)
    client.post(JOIN, json={"openid": openid, "config_id": "cw1"})
    world.save_msg_task(redis, {"msgid": "msgG1", "chat_type": "group", "content": {"text": {"content": "今晚8点直播"}},
                                "create_time": int(NOW.timestamp()),
                                "members": {"lisi": {"status": 0, "send_time": 0, "targets": ["wrA"]}}})
    (shown,) = client.get(GROUPS, query_string={"openid": openid}).get_json()["groups"]
    assert shown["waiting"] == [{"msgid": "msgG1", "text": "今晚8点直播"}] and shown["messages"] == []

    sent = client.post("/sandbox/phone/api/groups/owner-send", json={"openid": openid, "chat_id": "wrA",
                                                                     "msgid": "msgG1"})
    assert sent.status_code == 200, sent.get_json()
    (shown,) = sent.get_json()["groups"]
    assert shown["waiting"] == [] and [(m["from"], m["text"]) for m in shown["messages"]] == [("lisi", "今晚8点直播")]
    assert world.get_msg_task(redis, "msgG1")["members"]["lisi"]["status"] == 2
    wrong = client.post("/sandbox/phone/api/groups/owner-send", json={"chat_id": "wrA", "msgid": "msgNope"})
    assert wrong.status_code == 404


def test_the_phone_page_offers_the_group_actions(client):
    html = client.get("/sandbox/phone").get_data(as_text=True)
    for marker in ('id="scan-group"', 'id="my-groups"', 'id="group-form"', 'id="groups-panel"', "/api/groups/join"):
        assert marker in html


@pytest.mark.parametrize("backend", ["embedded"], indirect=True)
def test_in_a_browser_a_customer_scans_a_group_code_sees_the_owner_s_message_and_quits(browser, stack, frozen,
                                                                                         make_token, tmp_path):
    from playwright.sync_api import expect

    from web_world import open_phone_sandbox

    world.add_group_chat(frozen.redis, "wrA", owner="lisi", name="宝妈一群", at=NOW)
    save_way("cw1", ["wrA"], state="gc_browser")
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_phone_sandbox(page, stack.url, make_token("admin"))
    page.click("#new-customer")
    expect(page.locator("#scan-group")).to_be_enabled()
    page.click("#scan-group")
    expect(page.locator("#join-way option[value=cw1]")).to_have_count(1)
    page.select_option("#join-way", "cw1")
    page.click("#join-group")
    expect(page.locator(".note span").last).to_have_text("你已加入群「宝妈一群」")
    group = page.locator('#group-list .group[data-chat-id="wrA"]')
    expect(group).to_contain_text("2 人")

    world.save_msg_task(frozen.redis, {"msgid": "msgG1", "chat_type": "group", "create_time": int(NOW.timestamp()),
                                       "content": {"text": {"content": "今晚8点直播"}},
                                       "members": {"lisi": {"status": 0, "send_time": 0, "targets": ["wrA"]}}})
    page.click("#my-groups")  # closed, then opened again: read anew
    page.click("#my-groups")
    group.locator(".owner-send").click()
    expect(group.locator(".said").last).to_contain_text("今晚8点直播")
    expect(group.locator(".owner-send")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "phone-groups.png"))
    print(f"screenshot: {tmp_path / 'phone-groups.png'}")

    group.locator(".quit-group").click()
    expect(page.locator(".note span").last).to_have_text("你已退出群「宝妈一群」")
    expect(page.locator("#no-groups")).to_be_visible()
    assert errors == []
    assert [p["ChangeType"] + ":" + p.get("UpdateDetail", "") for p in chat_callbacks(frozen)] == [
        "update:add_member", "update:del_member"]


def test_when_the_webhook_is_down_the_join_stays_made_as_in_wecom(frozen, client, monkeypatch):
    world.add_group_chat(frozen.redis, "wrA", owner="lisi", name="一群", at=NOW)
    save_way("cw1", ["wrA"])
    openid = new_customer(client)

    def down(url, **kwargs):  # noqa: ANN001, ANN003, ANN202
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(group_callbacks.requests, "post", down)
    failed = client.post(JOIN, json={"openid": openid, "config_id": "cw1"})
    assert failed.status_code == 502 and failed.get_json()["error"] == "webhook_failed"
    assert chat_callbacks(frozen) == []
    listed = client.get(GROUPS, query_string={"openid": openid}).get_json()["groups"]
    assert [g["chat_id"] for g in listed] == ["wrA"]  # the product catches up at its hourly sync
