"""The sandbox's WeCom api: token, members, customers, contact ways, welcome messages, corp
tags, msg templates, transfers, group chats."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from scrm.sandbox import state

BASE = "/sandbox/wechat/work/cgi-bin/"
CREDENTIALS = {"corpid": "wwsandbox00000001", "corpsecret": "sandbox-work-contact-secret"}
OK = {"errcode": 0, "errmsg": "ok"}


class Work:
    def __init__(self, client, token: str | None) -> None:
        self.client, self.token = client, token

    def renew(self) -> None:
        self.token = fetch_token(self.client)["access_token"]

    def get(self, api: str, **params):
        return self.client.get(BASE + api, query_string={"access_token": self.token, **params}).get_json()

    def post(self, api: str, body=None):
        return self.client.post(BASE + api, query_string={"access_token": self.token}, json=body).get_json()


def fetch_token(client, **overrides) -> dict:
    return client.get(BASE + "gettoken", query_string={**CREDENTIALS, **overrides}).get_json()


@pytest.fixture
def work(client, clock):
    return Work(client, fetch_token(client)["access_token"])


# ---- token and members -------------------------------------------------------------------


def test_gettoken_gives_the_same_token_until_it_expires(client, clock):
    first = fetch_token(client)
    assert first["errcode"] == 0 and first["errmsg"] == "ok" and first["expires_in"] == 7200
    clock.advance(seconds=100)
    again = fetch_token(client)
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7100
    work = Work(client, first["access_token"])
    clock.advance(seconds=7100)
    assert work.get("user/get", userid="zhangsan")["errcode"] == 42001
    renewed = fetch_token(client)
    assert renewed["access_token"] != first["access_token"] and renewed["expires_in"] == 7200


@pytest.mark.parametrize(
    ("overrides", "errcode"),
    [({"corpid": ""}, 41002), ({"corpid": "wwother"}, 40013), ({"corpsecret": ""}, 41004), ({"corpsecret": "x"}, 40001)],
)
def test_gettoken_refuses_bad_credentials(client, clock, overrides, errcode):
    assert fetch_token(client, **overrides)["errcode"] == errcode


def test_calls_need_a_valid_token(client, work):
    assert Work(client, None).get("user/get", userid="zhangsan")["errcode"] == 41001
    assert Work(client, "forged").get("user/get", userid="zhangsan")["errcode"] == 40014
    assert work.get("user/get", userid="zhangsan")["errcode"] == 0


def test_user_get_plays_the_default_members_and_seeded_ones(work, redis):
    zhangsan = work.get("user/get", userid="zhangsan")
    assert {**zhangsan, **OK} == zhangsan and zhangsan["name"] == "张三" and zhangsan["department"] == [1]
    assert work.get("user/get", userid="lisi")["name"] == "李四"
    assert work.get("user/get", userid="ghost")["errcode"] == 60111
    assert work.get("user/get")["errcode"] == 41009
    state.add_member(redis, "guide9", "导购九")
    assert work.get("user/get", userid="guide9")["name"] == "导购九"


# ---- customers, contact ways, welcome ----------------------------------------------------


def test_externalcontact_get(work, redis):
    state.add_external_contact(redis, "wmC1", userid="zhangsan", name="客户一", unionid="u1", state="g:1")
    got = work.get("externalcontact/get", external_userid="wmC1")
    assert got["external_contact"]["name"] == "客户一" and got["external_contact"]["unionid"] == "u1"
    assert [(f["userid"], f["state"], f["tags"]) for f in got["follow_user"]] == [("zhangsan", "g:1", [])]
    assert work.get("externalcontact/get", external_userid="nobody")["errcode"] == 40096
    assert work.get("externalcontact/get")["errcode"] == 41035


def test_add_contact_way_and_its_image(client, work, redis):
    made = work.post("externalcontact/add_contact_way", {"type": 1, "scene": 2, "state": "g:7", "user": ["zhangsan"]})
    assert made["errcode"] == 0 and len(made["config_id"]) == 32
    image = client.get(urlsplit(made["qr_code"]).path)
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data[:4] == b"\x89PNG"
    assert state.find_contact_way(redis, made["config_id"])["state"] == "g:7"
    mini = work.post("externalcontact/add_contact_way", {"type": 2, "scene": 1, "user": ["zhangsan", "lisi"]})
    assert mini["errcode"] == 0 and "qr_code" not in mini


@pytest.mark.parametrize(
    ("body", "errcode", "names"),
    [
        ({"scene": 2, "user": ["zhangsan"]}, 41037, ""),
        ({"type": 3, "scene": 2, "user": ["zhangsan"]}, 41039, "type"),
        ({"type": 1, "user": ["zhangsan"]}, 41038, ""),
        ({"type": 1, "scene": 9, "user": ["zhangsan"]}, 41040, "scene"),
        ({"type": 1, "scene": 2, "state": "x" * 31, "user": ["zhangsan"]}, 40058, "state"),
        ({"type": 1, "scene": 2}, 40058, "user"),
        ({"type": 1, "scene": 2, "user": ["zhangsan", "lisi"]}, 40058, "user"),
        ({"type": 2, "scene": 2}, 40058, "user"),
        ({"type": 1, "scene": 2, "user": ["ghost"]}, 60111, "ghost"),
    ],
)
def test_add_contact_way_is_validated(work, body, errcode, names):
    answer = work.post("externalcontact/add_contact_way", body)
    assert answer["errcode"] == errcode and names in answer["errmsg"]


def test_add_contact_way_state_of_30_characters_is_fine(work):
    body = {"type": 1, "scene": 2, "state": "x" * 30, "user": ["zhangsan"]}
    assert work.post("externalcontact/add_contact_way", body)["errcode"] == 0


def test_welcome_code_works_once(work, redis):
    code = state.issue_welcome_code(redis, userid="zhangsan", external_userid="wmC1")
    body = {"welcome_code": code, "text": {"content": "欢迎"}}
    assert work.post("externalcontact/send_welcome_msg", body) == OK
    assert work.post("externalcontact/send_welcome_msg", body)["errcode"] == 41051
    received = state.list_messages(redis, "wmC1", channel="work")
    assert [(m["kind"], m["from"], m["content"]["text"]) for m in received] == [("welcome", "zhangsan", {"content": "欢迎"})]


def test_welcome_code_lives_20_seconds(work, redis, clock):
    code = state.issue_welcome_code(redis, userid="zhangsan", external_userid="wmC1")
    clock.advance(seconds=20)
    assert work.post("externalcontact/send_welcome_msg", {"welcome_code": code, "text": {"content": "hi"}})["errcode"] == 41050


def test_welcome_message_is_validated_before_the_code_is_used(work, redis):
    code = state.issue_welcome_code(redis, userid="zhangsan", external_userid="wmC1")
    assert work.post("externalcontact/send_welcome_msg", {"text": {"content": "hi"}})["errcode"] == 41049
    assert work.post("externalcontact/send_welcome_msg", {"welcome_code": "forged", "text": {"content": "hi"}})["errcode"] == 41050
    empty = work.post("externalcontact/send_welcome_msg", {"welcome_code": code, "text": {"content": ""}})
    assert empty["errcode"] == 40058 and "text.content" in empty["errmsg"]
    bad = work.post("externalcontact/send_welcome_msg", {"welcome_code": code, "attachments": [{"msgtype": "gif"}]})
    assert bad["errcode"] == 40058 and "attachments[0]" in bad["errmsg"]
    image = {"welcome_code": code, "attachments": [{"msgtype": "image", "image": {"media_id": "m"}}]}
    assert work.post("externalcontact/send_welcome_msg", image) == OK


# ---- corp tags and mark_tag -----------------------------------------------------------------


def add_tags(work, *names, **group) -> dict:
    return work.post("externalcontact/add_corp_tag", {**group, "tag": [{"name": n, "order": i} for i, n in enumerate(names)]})


def test_corp_tags_add_and_list(work):
    made = add_tags(work, "高", "低", group_name="消费能力")
    group = made["tag_group"]
    assert made["errcode"] == 0 and group["group_name"] == "消费能力" and group["group_id"].startswith("et")
    assert [t["name"] for t in group["tag"]] == ["高", "低"] and all(t["id"].startswith("et") for t in group["tag"])
    more = add_tags(work, "中", group_id=group["group_id"])["tag_group"]
    assert more["group_id"] == group["group_id"] and [t["name"] for t in more["tag"]] == ["中"]
    same_name = add_tags(work, "极高", group_name="消费能力")["tag_group"]
    assert same_name["group_id"] == group["group_id"]
    add_tags(work, "门店", group_name="渠道")
    listed = work.post("externalcontact/get_corp_tag_list", {})["tag_group"]
    assert [(g["group_name"], len(g["tag"])) for g in listed] == [("消费能力", 4), ("渠道", 1)]
    high = group["tag"][0]["id"]
    by_tag = work.post("externalcontact/get_corp_tag_list", {"tag_id": [high]})["tag_group"]
    assert [[t["name"] for t in g["tag"]] for g in by_tag] == [["高"]]
    by_group = work.post("externalcontact/get_corp_tag_list", {"group_id": [group["group_id"]], "tag_id": [high]})
    assert [len(g["tag"]) for g in by_group["tag_group"]] == [4]


@pytest.mark.parametrize(
    ("body", "errcode", "names"),
    [
        ({"group_name": "g", "tag": []}, 40058, "tag"),
        ({"tag": [{"name": "a"}]}, 40058, "group_name"),
        ({"group_name": "g", "tag": [{"name": "x" * 31}]}, 40072, "tag[0].name"),
        ({"group_name": "g", "tag": [{"name": "a"}, {"name": "a"}]}, 40071, "a"),
        ({"group_id": "etnope", "tag": [{"name": "a"}]}, 40068, "etnope"),
    ],
)
def test_add_corp_tag_is_validated(work, body, errcode, names):
    answer = work.post("externalcontact/add_corp_tag", body)
    assert answer["errcode"] == errcode and names in answer["errmsg"]


def test_add_corp_tag_refuses_a_name_in_the_group(work):
    add_tags(work, "高", group_name="消费能力")
    assert add_tags(work, "高", group_name="消费能力")["errcode"] == 40071


def test_mark_tag_on_a_member_and_customer(work, redis):
    tag_ids = [t["id"] for t in add_tags(work, "高", "低", group_name="消费能力")["tag_group"]["tag"]]
    state.add_external_contact(redis, "wmC1", userid="zhangsan")
    body = {"userid": "zhangsan", "external_userid": "wmC1", "add_tag": tag_ids}
    assert work.post("externalcontact/mark_tag", body) == OK
    assert work.post("externalcontact/mark_tag", {**body, "add_tag": [], "remove_tag": [tag_ids[1]]}) == OK
    follow = work.get("externalcontact/get", external_userid="wmC1")["follow_user"][0]
    assert follow["tags"] == [{"group_name": "消费能力", "tag_name": "高", "tag_id": tag_ids[0], "type": 1}]


@pytest.mark.parametrize(
    ("change", "errcode"),
    [
        ({"userid": "ghost"}, 60111),
        ({"userid": "lisi"}, 84061),
        ({"external_userid": "wmStranger"}, 84061),
        ({"add_tag": ["etnope"]}, 40068),
        ({"add_tag": []}, 40058),
        ({"userid": ""}, 41009),
        ({"external_userid": ""}, 41035),
    ],
)
def test_mark_tag_is_validated(work, redis, change, errcode):
    tag_id = add_tags(work, "高", group_name="消费能力")["tag_group"]["tag"][0]["id"]
    state.add_external_contact(redis, "wmC1", userid="zhangsan")
    body = {"userid": "zhangsan", "external_userid": "wmC1", "add_tag": [tag_id], **change}
    assert work.post("externalcontact/mark_tag", body)["errcode"] == errcode


# ---- msg templates and transfers -----------------------------------------------------------


def test_add_msg_template_single_and_group(work, redis):
    state.add_external_contact(redis, "wmC1", userid="zhangsan")
    state.add_external_contact(redis, "wmC2", userid="lisi")
    single = {"chat_type": "single", "sender": "zhangsan", "external_userid": ["wmC1", "wmC2", "wmX"], "text": {"content": "新品"}}
    sent = work.post("externalcontact/add_msg_template", single)
    assert sent["errcode"] == 0 and sent["fail_list"] == ["wmC2", "wmX"] and sent["msgid"].startswith("msg")
    unsent = {k: v for k, v in single.items() if k != "sender"}
    assert work.post("externalcontact/add_msg_template", unsent)["fail_list"] == ["wmX"]
    nobody = work.post("externalcontact/add_msg_template", {**single, "external_userid": ["wmX"]})
    assert nobody["errcode"] == 41048 and nobody["fail_list"] == ["wmX"]
    group = {"chat_type": "group", "sender": "zhangsan", "text": {"content": "群发"}}
    assert work.post("externalcontact/add_msg_template", group)["fail_list"] == []


@pytest.mark.parametrize(
    ("body", "errcode", "names"),
    [
        ({"chat_type": "broadcast", "external_userid": ["wmC1"], "text": {"content": "x"}}, 40058, "chat_type"),
        ({"chat_type": "group", "text": {"content": "x"}}, 40058, "sender"),
        ({"chat_type": "group", "sender": "ghost", "text": {"content": "x"}}, 60111, "ghost"),
        ({"chat_type": "single", "text": {"content": "x"}}, 40058, "external_userid"),
        ({"chat_type": "single", "external_userid": ["wmC1"]}, 40058, "text.content"),
    ],
)
def test_add_msg_template_is_validated(work, redis, body, errcode, names):
    state.add_external_contact(redis, "wmC1", userid="zhangsan")
    answer = work.post("externalcontact/add_msg_template", body)
    assert answer["errcode"] == errcode and names in answer["errmsg"]


def transfer(work, customers, handover="zhangsan", takeover="lisi"):
    body = {"handover_userid": handover, "takeover_userid": takeover, "external_userid": customers}
    return work.post("externalcontact/transfer_customer", body)


def test_transfer_customer_moves_customers_and_reports_each(work, redis):
    for customer in ("wmC1", "wmC2"):
        state.add_external_contact(redis, customer, userid="zhangsan")
    state.add_external_contact(redis, "wmC3", userid="wangwu")
    moved = transfer(work, ["wmC1", "wmC3", "wmNobody"])
    assert moved["errcode"] == 0
    assert moved["customer"] == [
        {"external_userid": "wmC1", "errcode": 0},
        {"external_userid": "wmC3", "errcode": 40131},
        {"external_userid": "wmNobody", "errcode": 40096},
    ]
    follow = work.get("externalcontact/get", external_userid="wmC1")["follow_user"]
    assert [f["userid"] for f in follow] == ["lisi"]


def test_a_customer_is_transferred_twice_in_90_days_at_most(work, redis, clock):
    for customer in ("wmC1", "wmC2"):
        state.add_external_contact(redis, customer, userid="zhangsan")
    transfer(work, ["wmC1"])
    transfer(work, ["wmC1"], handover="lisi", takeover="zhangsan")
    third = transfer(work, ["wmC1", "wmC2"])
    assert third["customer"] == [{"external_userid": "wmC1", "errcode": 40128}, {"external_userid": "wmC2", "errcode": 0}]
    clock.advance(days=90, seconds=1)
    work.renew()
    assert transfer(work, ["wmC1"])["customer"] == [{"external_userid": "wmC1", "errcode": 0}]


def test_transfer_customer_is_validated(work):
    assert transfer(work, [f"wm{i}" for i in range(101)])["errcode"] == 40058
    assert transfer(work, [])["errcode"] == 40058
    assert transfer(work, ["wmC1"], takeover="zhangsan")["errcode"] == 40130
    assert transfer(work, ["wmC1"], takeover="ghost")["errcode"] == 60111
    missing = work.post("externalcontact/transfer_customer", {"takeover_userid": "lisi", "external_userid": ["wmC1"]})
    assert missing["errcode"] == 40058 and "handover_userid" in missing["errmsg"]


# ---- group chats ---------------------------------------------------------------------------


def test_groupchat_list_pages_with_cursor_and_filters(work, redis):
    for i in range(5):
        state.add_group_chat(redis, f"wr{i}", owner="zhangsan" if i % 2 else "lisi", name=f"群{i}")
    state.add_group_chat(redis, "wr9", owner="lisi", name="离职群", status=1)
    first = work.post("externalcontact/groupchat/list", {"limit": 2})
    assert first["errcode"] == 0 and [c["chat_id"] for c in first["group_chat_list"]] == ["wr0", "wr1"]
    seen, cursor = [], ""
    while True:
        page = work.post("externalcontact/groupchat/list", {"limit": 4, "cursor": cursor})
        seen += [c["chat_id"] for c in page["group_chat_list"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ["wr0", "wr1", "wr2", "wr3", "wr4", "wr9"]
    owned = work.post("externalcontact/groupchat/list", {"limit": 100, "owner_filter": {"userid_list": ["zhangsan"]}})
    assert [c["chat_id"] for c in owned["group_chat_list"]] == ["wr1", "wr3"] and owned["next_cursor"] == ""
    waiting = work.post("externalcontact/groupchat/list", {"limit": 100, "status_filter": 1})
    assert waiting["group_chat_list"] == [{"chat_id": "wr9", "status": 1}]


@pytest.mark.parametrize("body", [{}, {"limit": 0}, {"limit": 1001}, {"limit": 10, "status_filter": 7}])
def test_groupchat_list_is_validated(work, body):
    answer = work.post("externalcontact/groupchat/list", body)
    assert answer["errcode"] == 40058


def test_groupchat_get(work, redis):
    state.add_external_contact(redis, "wmC1", userid="zhangsan", name="客户一", unionid="u1")
    state.add_group_chat(redis, "wr1", owner="zhangsan", name="VIP群", member_userids=["lisi"], external_userids=["wmC1"])
    state.add_group_chat_members(redis, "wr1", external_userids=["wmC2"])
    state.remove_group_chat_members(redis, "wr1", userids=["lisi"])
    chat = work.post("externalcontact/groupchat/get", {"chat_id": "wr1", "need_name": 1})["group_chat"]
    assert chat["name"] == "VIP群" and chat["owner"] == "zhangsan"
    members = [(m["userid"], m["type"], m.get("name"), m.get("unionid")) for m in chat["member_list"]]
    assert members == [("zhangsan", 1, "张三", None), ("wmC1", 2, "客户一", "u1"), ("wmC2", 2, "wmC2", None)]
    plain = work.post("externalcontact/groupchat/get", {"chat_id": "wr1"})["group_chat"]
    assert all("name" not in m for m in plain["member_list"])
    assert work.post("externalcontact/groupchat/get", {"chat_id": "wrNope"})["errcode"] == 40050
