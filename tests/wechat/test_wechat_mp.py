"""The MP adapter against the sandbox: what each method posts and what it returns."""

from __future__ import annotations

import pytest
import redis
import requests

from scrm.sandbox import state
from scrm.wechat.errors import WeChatError
from scrm.wechat.mp import MPClient
from scrm.wechat.values import Follower, MPTag, QRCode


@pytest.fixture
def mp(runtime):  # noqa: ANN001, ANN201
    return runtime.mp


def _bodies(runtime, api: str) -> list[dict]:  # noqa: ANN001
    return [c["body"] for c in state.list_calls(runtime.redis, channel="mp", api=api)]


def _followers(runtime, count: int, prefix: str = "o") -> list[str]:  # noqa: ANN001
    openids = [f"{prefix}{i:027d}" for i in range(count)]
    for openid in openids:
        state.add_follower(runtime.redis, openid, nickname=f"fan {openid[-3:]}")
    return openids


def test_calls_and_token_go_to_the_configured_base(runtime, mp) -> None:  # noqa: ANN001
    mp.list_tags()

    calls = state.list_calls(runtime.redis, channel="mp")
    assert [(c["api"], c["method"]) for c in calls] == [("token", "GET"), ("tags/get", "GET")]
    assert calls[1]["query"]["access_token"] == "***"  # the sandbox masks what it records


def test_permanent_and_temporary_qrcodes(runtime, mp, stack) -> None:  # noqa: ANN001
    permanent = mp.create_qrcode("guide:42")
    temporary = mp.create_qrcode("coupon:7", permanent=False, expire_seconds=600)

    assert isinstance(permanent, QRCode) and permanent.ticket and permanent.url
    assert permanent.expire_seconds is None
    assert temporary.expire_seconds == 600
    posted = _bodies(runtime, "qrcode/create")
    assert posted[0] == {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "guide:42"}}}
    assert posted[1]["action_name"] == "QR_STR_SCENE" and posted[1]["expire_seconds"] == 600

    image = requests.get(mp.qrcode_image_url(permanent.ticket), timeout=5)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert mp.qrcode_image_url(permanent.ticket).startswith(f"{stack.url}/sandbox/wechat/mp/cgi-bin/showqrcode?")


@pytest.mark.parametrize("scene", ["", "x" * 65])
def test_a_scene_outside_1_to_64_characters_is_refused_before_calling(runtime, mp, scene) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        mp.create_qrcode(scene)
    assert _bodies(runtime, "qrcode/create") == []


def test_the_real_base_shows_qrcodes_from_mp_weixin_qq_com() -> None:
    client = MPClient(
        redis_client=redis.Redis(), app_id="wx1", app_secret="s", base_url="https://api.weixin.qq.com/cgi-bin/"
    )

    assert client.qrcode_image_url("a+b") == "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=a%2Bb"


def test_tags_are_created_listed_and_read_back(runtime, mp) -> None:  # noqa: ANN001
    (openid,) = _followers(runtime, 1)

    tag = mp.create_tag("高价值")
    mp.tag_users(tag.id, [openid])

    assert isinstance(tag, MPTag) and tag.name == "高价值"
    assert MPTag(id=tag.id, name="高价值", count=1) in mp.list_tags()
    assert mp.user_tag_ids(openid) == [tag.id]
    mp.untag_users(tag.id, [openid])
    assert mp.user_tag_ids(openid) == []


def test_tagging_120_followers_takes_three_batches_of_at_most_50(runtime, mp) -> None:  # noqa: ANN001
    openids = _followers(runtime, 120)
    tag = mp.create_tag("vip")

    calls = mp.tag_users(tag.id, openids + openids[:10])  # repeats are sent once

    batches = [b["openid_list"] for b in _bodies(runtime, "tags/members/batchtagging")]
    assert calls == 3
    assert [len(b) for b in batches] == [50, 50, 20]
    assert sum(batches, []) == openids
    assert all(b["tagid"] == tag.id for b in _bodies(runtime, "tags/members/batchtagging"))
    assert {t.id: t.count for t in mp.list_tags()}[tag.id] == 120


def test_untagging_is_batched_too(runtime, mp) -> None:  # noqa: ANN001
    openids = _followers(runtime, 51)
    tag = mp.create_tag("lapsed")
    mp.tag_users(tag.id, openids)

    assert mp.untag_users(tag.id, openids) == 2
    assert [len(b["openid_list"]) for b in _bodies(runtime, "tags/members/batchuntagging")] == [50, 1]
    assert mp.tag_users(tag.id, []) == 0


def test_user_info_is_a_follower_value(runtime, mp) -> None:  # noqa: ANN001
    state.add_follower(runtime.redis, "o-info", nickname="小明", unionid="u-1")

    follower = mp.user_info("o-info")

    assert isinstance(follower, Follower)
    assert (follower.openid, follower.subscribed, follower.nickname) == ("o-info", True, "小明")
    assert follower.unionid == "u-1"
    assert follower.raw["openid"] == "o-info"
    with pytest.raises(WeChatError) as raised:
        mp.user_info("o-nobody")
    assert raised.value.errcode == 40003


def test_custom_and_template_messages_reach_the_follower(runtime, mp) -> None:  # noqa: ANN001
    state.add_follower(runtime.redis, "o-chat", last_message_at=runtime.clock.now())

    mp.send_custom_message("o-chat", "text", {"content": "你好"})
    msgid = mp.send_template("o-chat", "TPL-1", {"first": {"value": "hi"}}, url="https://example.com/c/1")

    assert msgid > 0
    assert _bodies(runtime, "message/custom/send") == [
        {"touser": "o-chat", "msgtype": "text", "text": {"content": "你好"}}
    ]
    template = _bodies(runtime, "message/template/send")[0]
    assert template["template_id"] == "TPL-1" and template["url"] == "https://example.com/c/1"
    received = state.list_messages(runtime.redis, "o-chat")
    assert [m["kind"] for m in received] == ["custom", "template"]


def test_mass_send_filters_by_tag_id_and_a_repeat_returns_the_first_send(runtime, mp) -> None:  # noqa: ANN001
    openids = _followers(runtime, 3)
    tag = mp.create_tag("campaign")
    mp.tag_users(tag.id, openids)

    first = mp.mass_send_by_tag(tag.id, "text", {"content": "双十一"}, clientmsgid="campaign-1")
    again = mp.mass_send_by_tag(tag.id, "text", {"content": "双十一"}, clientmsgid="campaign-1")

    posted = _bodies(runtime, "message/mass/sendall")[0]
    assert posted["filter"] == {"is_to_all": False, "tag_id": tag.id}
    assert "group_id" not in posted["filter"]
    assert posted["clientmsgid"] == "campaign-1"
    assert first.msg_id > 0 and not first.duplicate
    assert (again.msg_id, again.duplicate) == (first.msg_id, True)
    assert all(len(state.list_messages(runtime.redis, o)) == 1 for o in openids)
