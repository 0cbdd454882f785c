"""The WeCom adapter against the sandbox: what each method posts and what it returns."""

from __future__ import annotations

import pytest

from scrm.sandbox import state
from scrm.wechat.errors import WeChatError
from scrm.wechat.values import ContactWay, CorpTagGroup, GroupChat, GroupChatPage, Member, TransferResult


@pytest.fixture
def work(runtime):  # noqa: ANN001, ANN201
    return runtime.work


def _bodies(runtime, api: str) -> list[dict]:  # noqa: ANN001
    return [c["body"] for c in state.list_calls(runtime.redis, channel="work", api=api)]


def test_calls_and_token_go_to_the_configured_base(runtime, work) -> None:  # noqa: ANN001
    work.get_user("zhangsan")

    calls = state.list_calls(runtime.redis, channel="work")
    assert [(c["api"], c["method"]) for c in calls] == [("gettoken", "GET"), ("user/get", "GET")]
    assert calls[0]["query"]["corpid"] == runtime.config.wechat.work.corp_id


def test_get_user_is_a_member_value(work) -> None:  # noqa: ANN001
    member = work.get_user("zhangsan")

    assert isinstance(member, Member)
    assert (member.userid, member.name) == ("zhangsan", "张三")
    with pytest.raises(WeChatError) as raised:
        work.get_user("nobody")
    assert raised.value.errcode == 60111


def test_contact_way_for_one_member_and_for_several(runtime, work) -> None:  # noqa: ANN001
    single = work.add_contact_way("g:zhangsan", ["zhangsan"])
    multi = work.add_contact_way("store:1", ["zhangsan", "lisi"], remark="旗舰店")

    assert isinstance(single, ContactWay) and single.config_id and single.qr_code
    assert multi.config_id != single.config_id
    posted = _bodies(runtime, "externalcontact/add_contact_way")
    assert (posted[0]["type"], posted[0]["scene"], posted[0]["state"]) == (1, 2, "g:zhangsan")
    assert posted[0]["user"] == ["zhangsan"]
    assert (posted[1]["type"], posted[1]["user"], posted[1]["remark"]) == (2, ["zhangsan", "lisi"], "旗舰店")


def test_a_state_longer_than_30_characters_is_refused_before_calling(runtime, work) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        work.add_contact_way("s" * 31, ["zhangsan"])
    assert _bodies(runtime, "externalcontact/add_contact_way") == []


def test_welcome_message_uses_the_code_once(runtime, work) -> None:  # noqa: ANN001
    state.add_external_contact(runtime.redis, "wm-1", userid="zhangsan")
    code = state.issue_welcome_code(runtime.redis, userid="zhangsan", external_userid="wm-1")
    link = {"msgtype": "link", "link": {"title": "新人券", "url": "https://example.com/c"}}

    work.send_welcome_msg(code, "欢迎 #nickname#", [link])
    with pytest.raises(WeChatError) as raised:
        work.send_welcome_msg(code, "again")

    assert raised.value.errcode == 41051
    assert _bodies(runtime, "externalcontact/send_welcome_msg")[0] == {
        "welcome_code": code,
        "text": {"content": "欢迎 #nickname#"},
        "attachments": [link],
    }


def test_a_message_needs_text_or_a_well_formed_attachment(work) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        work.send_welcome_msg("code", "")
    with pytest.raises(ValueError):
        work.send_welcome_msg("code", "hi", [{"msgtype": "sticker", "sticker": {}}])


def test_corp_tags_are_added_listed_and_marked(runtime, work) -> None:  # noqa: ANN001
    state.add_external_contact(runtime.redis, "wm-2", userid="lisi")

    group = work.add_corp_tag("客户等级", ["金卡", "银卡"])
    gold = next(t for t in group.tags if t.name == "金卡")
    work.mark_tag("lisi", "wm-2", add=[gold.id])
    work.mark_tag("lisi", "wm-2")  # nothing to change: no call

    assert isinstance(group, CorpTagGroup) and group.group_name == "客户等级"
    assert {t.name for t in group.tags} == {"金卡", "银卡"}
    listed = {g.group_name: g for g in work.corp_tags()}
    assert {t.id for t in listed["客户等级"].tags} == {t.id for t in group.tags}
    assert _bodies(runtime, "externalcontact/mark_tag") == [
        {"userid": "lisi", "external_userid": "wm-2", "add_tag": [gold.id], "remove_tag": []}
    ]


def test_mass_message_template_for_customers(runtime, work) -> None:  # noqa: ANN001
    for external_userid in ("wm-3", "wm-4"):
        state.add_external_contact(runtime.redis, external_userid, userid="zhangsan")

    template = work.add_msg_template("single", "zhangsan", ["wm-3", "wm-4"], "周末活动")

    assert template.msgid
    posted = _bodies(runtime, "externalcontact/add_msg_template")[0]
    assert posted == {
        "chat_type": "single",
        "sender": "zhangsan",
        "external_userid": ["wm-3", "wm-4"],
        "text": {"content": "周末活动"},
    }


def test_transfer_customer_batches_of_100_with_per_customer_results(runtime, work) -> None:  # noqa: ANN001
    customers = [f"wm-t{i:03d}" for i in range(150)]
    for external_userid in customers:
        state.add_external_contact(runtime.redis, external_userid, userid="zhangsan")

    results = work.transfer_customer("zhangsan", "lisi", customers + ["wm-stranger"])

    batches = _bodies(runtime, "externalcontact/transfer_customer")
    assert [len(b["external_userid"]) for b in batches] == [100, 51]
    assert all((b["handover_userid"], b["takeover_userid"]) == ("zhangsan", "lisi") for b in batches)
    assert [r.external_userid for r in results] == customers + ["wm-stranger"]
    assert all(isinstance(r, TransferResult) and r.ok for r in results[:150])
    assert not results[-1].ok and results[-1].errcode != 0  # WeCom answers per customer


def test_group_chats_page_and_detail(runtime, work) -> None:  # noqa: ANN001
    for i in range(3):
        state.add_group_chat(
            runtime.redis, f"wr-{i}", owner="zhangsan", name=f"福利群{i}", external_userids=[f"wm-g{i}"]
        )

    first = work.group_chats(limit=2)
    second = work.group_chats(cursor=first.next_cursor, limit=2)
    chat = work.group_chat("wr-1")

    assert isinstance(first, GroupChatPage) and len(first.chats) == 2 and first.next_cursor
    assert {c.chat_id for c in first.chats + second.chats} == {"wr-0", "wr-1", "wr-2"}
    assert second.next_cursor is None
    assert isinstance(chat, GroupChat)
    assert (chat.chat_id, chat.name, chat.owner) == ("wr-1", "福利群1", "zhangsan")
    assert {(m.userid, m.type) for m in chat.members} == {("zhangsan", 1), ("wm-g1", 2)}
    assert {(m.userid, m.name) for m in chat.members} == {("zhangsan", "张三"), ("wm-g1", "wm-g1")}  # need_name
    assert _bodies(runtime, "externalcontact/groupchat/get") == [{"chat_id": "wr-1", "need_name": 1}]
