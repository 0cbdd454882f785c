"""Group join ways (群活码) and app messages (应用消息) through the WeCom adapter, the sandbox
playing WeCom: what each call posts, what WeCom refuses, and the app's own token."""

from __future__ import annotations

import pytest
import requests

from scrm.sandbox import state, world
from scrm.wechat.errors import WeChatError
from scrm.wechat.values import JoinWay

AGENT_SECRET = "sandbox-work-agent-secret"


@pytest.fixture
def config_overrides() -> dict:
    return {"wechat.work.agent_secret": AGENT_SECRET}


def _calls(runtime, api: str) -> list[dict]:  # noqa: ANN001
    return state.list_calls(runtime.redis, channel="work", api=api)


def _two_groups(runtime) -> None:  # noqa: ANN001
    for i in (1, 2):
        state.add_group_chat(runtime.redis, f"wr-{i}", owner="zhangsan", name=f"福利群{i}")


def test_a_join_way_is_added_read_updated_and_deleted(runtime) -> None:  # noqa: ANN001
    _two_groups(runtime)
    work = runtime.work

    config_id = work.add_join_way(chat_ids=["wr-1", "wr-2"], state="gc1", remark="门店群")
    way = work.get_join_way(config_id)

    assert isinstance(way, JoinWay)
    assert (way.chat_ids, way.state, way.remark, way.scene, way.auto_create_room) == (
        ("wr-1", "wr-2"), "gc1", "门店群", 2, False)
    assert way.qr_code.endswith(f"/sandbox/wechat/work/join_way/{config_id}.png")
    image = requests.get(way.qr_code, timeout=5)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    work.update_join_way(config_id, chat_ids=["wr-2"], state="gc1", auto_create_room=True, room_base_name="福利群",
                         room_base_id=3)
    changed = work.get_join_way(config_id)
    assert (changed.chat_ids, changed.auto_create_room, changed.room_base_name, changed.room_base_id) == (
        ("wr-2",), True, "福利群", 3)
    assert _calls(runtime, "externalcontact/groupchat/update_join_way")[0]["body"] == {
        "config_id": config_id, "scene": 2, "remark": "", "auto_create_room": 1, "chat_id_list": ["wr-2"],
        "state": "gc1", "room_base_name": "福利群", "room_base_id": 3}

    work.del_join_way(config_id)
    assert world.get_join_way(runtime.redis, config_id) is None
    with pytest.raises(WeChatError) as gone:
        work.get_join_way(config_id)
    assert gone.value.errcode == 40058


def test_wecom_refuses_a_join_way_it_would_refuse(runtime) -> None:  # noqa: ANN001
    _two_groups(runtime)
    work = runtime.work
    with pytest.raises(WeChatError) as unknown:
        work.add_join_way(chat_ids=["wr-1", "no-such-chat"], state="gc1")
    assert unknown.value.errcode == 40050
    for bad in ({"chat_ids": [], "state": "gc1"}, {"chat_ids": [f"wr-{i}" for i in range(6)], "state": "gc1"},
                {"chat_ids": ["wr-1"], "state": "s" * 31}, {"chat_ids": ["wr-1"], "state": "gc1",
                                                             "auto_create_room": True}):
        with pytest.raises(ValueError):
            work.add_join_way(**bad)
    assert world.join_ways(runtime.redis) == {}
    assert len(_calls(runtime, "externalcontact/groupchat/add_join_way")) == 1  # only the one WeCom answered


def test_app_messages_go_with_the_apps_own_token(runtime) -> None:  # noqa: ANN001
    work = runtime.work
    assert work.can_send_app_messages

    work.send_app_message(["zhangsan", "nobody"], "【群SOP提醒】请发送今天的群发")

    inbox = world.list_messages(runtime.redis, "zhangsan", channel="work_app")
    assert [m["text"]["content"] for m in inbox] == ["【群SOP提醒】请发送今天的群发"]
    assert len(_calls(runtime, "gettoken")) == 1
    token = runtime.work._agent_transport.tokens.get()  # cached: the app secret's, not the contact one's
    assert state.token_status(runtime.redis, "work_agent", token, now=runtime.clock.now()) == "valid"
    assert state.token_status(runtime.redis, "work", token, now=runtime.clock.now()) == "invalid"
    sent = _calls(runtime, "message/send")[0]
    assert sent["body"] == {"touser": "zhangsan|nobody", "msgtype": "text",
                            "agentid": runtime.config.wechat.work.agent_id,
                            "text": {"content": "【群SOP提醒】请发送今天的群发"}}


def test_a_contact_token_cannot_send_app_messages(runtime) -> None:  # noqa: ANN001
    runtime.work.get_user("zhangsan")  # a customer-contact token
    contact_token = _calls(runtime, "user/get")[0]["query"]["access_token"]
    answer = requests.post(f"{runtime.config.work_api_base_url}message/send?access_token={contact_token}", json={
        "touser": "zhangsan", "msgtype": "text", "agentid": runtime.config.wechat.work.agent_id,
        "text": {"content": "hi"}}, timeout=5).json()
    assert answer["errcode"] == 40014
    assert world.list_messages(runtime.redis, "zhangsan", channel="work_app") == []


def test_without_an_agent_secret_no_app_message_is_sent(runtime) -> None:  # noqa: ANN001
    from scrm.wechat.work import WorkClient

    client = WorkClient(redis_client=runtime.redis, corp_id=runtime.config.wechat.work.corp_id,
                        secret=runtime.config.wechat.work.secret, base_url=runtime.config.work_api_base_url)
    assert not client.can_send_app_messages
    with pytest.raises(ValueError):
        client.send_app_message(["zhangsan"], "hi")
    assert _calls(runtime, "message/send") == []


@pytest.mark.parametrize("config_overrides", [{}])
def test_in_sandbox_mode_an_unset_agent_secret_is_the_sandboxs_own(runtime) -> None:  # noqa: ANN001
    """The demo plays app messages with no configuration; outside sandbox mode unset means none."""
    assert runtime.config.wechat.work.agent_secret is None
    assert runtime.work.can_send_app_messages
    runtime.work.send_app_message(["zhangsan"], "演示")
    assert [m["text"]["content"] for m in world.list_messages(runtime.redis, "zhangsan", channel="work_app")] == ["演示"]
    production = runtime.config.model_copy(update={"wechat": runtime.config.wechat.model_copy(update={"sandbox": False})})
    assert production.work_agent_secret is None


@pytest.mark.parametrize("config_overrides", [{"wechat.work.agent_secret": ""}])
def test_an_empty_agent_secret_turns_app_messages_off_in_sandbox_mode_too(runtime) -> None:  # noqa: ANN001
    assert not runtime.work.can_send_app_messages
