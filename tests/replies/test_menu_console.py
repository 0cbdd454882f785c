"""The Official Account's menu page (SPEC §11): a menu WeChat would refuse is refused here with
the button named and nothing saved; publishing is a queued job that calls ``menu/create`` once
with WeChat's JSON, shows its outcome, and the phone sandbox then shows the new menu."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from scrm.replies import menu as menu_service
from scrm.replies.models import MPMenu
from scrm.sandbox import menu_api, state
from web_world import log_in, page_text

MENU = "/console/menu"


@pytest.fixture(autouse=True)
def admin(client, make_token):  # noqa: ANN001, ANN201
    log_in(client, make_token, "admin")


def menus(runtime) -> list[MPMenu]:  # noqa: ANN001
    with runtime.transaction() as db_session:
        found = list(db_session.scalars(select(MPMenu).order_by(MPMenu.id)))
        db_session.expunge_all()
        return found


def blank() -> dict[str, str]:
    return {name: "" for name in [f"b{i}_{f}" for i in range(1, 4) for f in ("name", "kind", "value")]
            + [f"b{i}_s{j}_{f}" for i in range(1, 4) for j in range(1, 6) for f in ("name", "kind", "value")]}


def good_menu() -> dict[str, str]:
    return {**blank(),
            "b1_name": "新品", "b1_kind": "click", "b1_value": "NEW",
            "b2_name": "会员", "b2_s1_name": "我的优惠券", "b2_s1_kind": "click", "b2_s1_value": "MY_COUPONS",
            "b2_s2_name": "会员中心", "b2_s2_kind": "view", "b2_s2_value": "https://shop.example.com/member",
            "b3_name": "商城", "b3_kind": "view", "b3_value": "https://shop.example.com/"}


WECHAT_JSON = [
    {"type": "click", "name": "新品", "key": "NEW"},
    {"name": "会员", "sub_button": [
        {"type": "click", "name": "我的优惠券", "key": "MY_COUPONS"},
        {"type": "view", "name": "会员中心", "url": "https://shop.example.com/member"},
    ]},
    {"type": "view", "name": "商城", "url": "https://shop.example.com/"},
]


def phone_menu(client) -> list[dict]:  # noqa: ANN001
    page = client.get("/sandbox/phone").get_data(as_text=True)
    boot = re.search(r'<script id="phone-boot" type="application/json">(.*?)</script>', page, re.S)[1]
    return json.loads(boot)["menu"]


@pytest.mark.parametrize(("fields", "blamed", "said"), [
    ({"b1_name": "每周新品上市"}, "buttons.1.name", "菜单 1：「每周新品上市」有 18 字节，微信最多允许 16 字节"),
    ({"b1_value": ""}, "buttons.1.value", "菜单 1：点击菜单需要 1–128 字节的 key"),
    ({"b3_value": "shop.example.com"}, "buttons.3.value", "菜单 3：链接菜单需要 http:// 或 https:// 开头的网址"),
    ({"b2_s2_name": ""}, "buttons.2.sub.2.name", "菜单 2.2：需要名称"),
    ({"b2_s1_name": "我" * 21}, "buttons.2.sub.1.name", "微信最多允许 60 字节"),
    ({"b1_kind": ""}, "buttons.1.kind", "菜单 1：请选择「点击」（发送 key）或「链接」（打开网页），或添加子菜单"),
])
def test_a_menu_wechat_would_refuse_is_refused_with_the_button_named_and_nothing_saved(
        client, runtime, fields, blamed, said):
    form = {**good_menu(), **fields}
    response = client.post(MENU, data={**form, "action": "publish"})
    assert response.status_code == 422
    text = page_text(response)
    assert blamed in text and said in text and "未保存，没有任何改动" in text
    assert 'value="会员中心"' in text or fields.get("b2_s2_name") == ""  # what was typed is shown again
    assert menus(runtime) == [] and state.list_calls(runtime.redis, "mp", "menu/create") == []


def test_names_are_measured_in_bytes_and_counts_are_wechats():
    # 5 Chinese characters are 15 bytes: inside WeChat's 16, though its help says "4 characters".
    assert menu_service.check_menu((menu_service.ButtonIn("新品上市啦", "click", "K"),))[0]["name"] == "新品上市啦"
    with pytest.raises(menu_service.InvalidMenu, match="1-3 top buttons"):
        menu_service.check_menu(())
    four = tuple(menu_service.ButtonIn(f"b{i}", "click", "K") for i in range(4))
    with pytest.raises(menu_service.InvalidMenu, match="1-3 top buttons"):
        menu_service.check_menu(four)
    six = (menu_service.ButtonIn("more", sub=tuple(menu_service.ButtonIn(f"s{i}", "click", "K") for i in range(6))),)
    with pytest.raises(menu_service.InvalidMenu, match="at most 5 sub-buttons"):
        menu_service.check_menu(six)


def test_publishing_calls_menu_create_once_and_the_phone_shows_the_new_menu(client, runtime):
    assert [item["label"] for item in phone_menu(client)][1] == "我的优惠券 My coupons"  # before: the default
    saved = client.post(MENU, data={**good_menu(), "action": "publish"})
    assert saved.status_code == 302
    (menu,) = menus(runtime)
    assert menu.buttons == WECHAT_JSON and menu.status == "publishing"
    assert "发布中…" in page_text(client.get(MENU))
    assert state.list_calls(runtime.redis, "mp", "menu/create") == []  # queued, not sent in the request

    runtime.queue.run_pending()
    calls = state.list_calls(runtime.redis, "mp", "menu/create")
    assert len(calls) == 1 and calls[0]["body"] == {"button": WECHAT_JSON} and calls[0]["errcode"] == 0
    (menu,) = menus(runtime)
    assert menu.status == "published" and menu.published_at is not None and menu.error is None
    page = page_text(client.get(MENU))
    assert "已发布" in page and 'value="会员中心"' in page
    assert runtime.mp.get_menu() == [{**WECHAT_JSON[0], "sub_button": []}, WECHAT_JSON[1],
                                     {**WECHAT_JSON[2], "sub_button": []}]

    shown = phone_menu(client)
    assert [item["label"] for item in shown] == ["新品", "会员", "商城"]
    assert shown[1]["kind"] == "sub" and [(s["kind"], s["label"], s["value"]) for s in shown[1]["sub"]] == [
        ("click", "我的优惠券", "MY_COUPONS"), ("view", "会员中心", "https://shop.example.com/member")]


def test_a_tap_on_a_sub_button_reaches_the_webhook_with_its_key(client, runtime):
    client.post(MENU, data={**good_menu(), "action": "publish"})
    runtime.queue.run_pending()
    openid = client.post("/sandbox/phone/api/customers", json={}).get_json()["openid"]
    assert client.post("/sandbox/phone/api/send", json={"openid": openid, "action": "follow"}).status_code == 200
    tapped = client.post("/sandbox/phone/api/send", json={"openid": openid, "action": "click", "value": "MY_COUPONS"})
    assert tapped.status_code == 200
    body = tapped.get_json()
    assert "点击菜单「我的优惠券」" in body["messages"][0]["text"]
    assert body["reply"]["kind"] == "news" and "/c/coupons?t=" in body["reply"]["articles"][0]["url"]  # the coupon link


def test_a_refused_publish_shows_wechats_error_and_can_be_published_again(client, runtime):
    state.add_fault(runtime.redis, channel="mp", api="menu/create", errcode=40018)
    client.post(MENU, data={**good_menu(), "action": "publish"})
    runtime.queue.run_pending()
    (menu,) = menus(runtime)
    assert menu.status == "failed" and menu.error.startswith("40018")
    page = page_text(client.get(MENU))
    assert "发布失败" in page and "微信拒绝了这个菜单：40018" in page
    client.post("/language", data={"lang": "en", "next": "/"})
    assert "WeChat refused the menu: 40018" in page_text(client.get(MENU))
    client.post("/language", data={"lang": "zh_CN", "next": "/"})
    assert menu_api.current(runtime.redis) is None

    assert client.post(f"{MENU}/publish").status_code == 302
    runtime.queue.run_pending()
    assert menus(runtime)[0].status == "published" and menu_api.current(runtime.redis) is not None
    assert len(state.list_calls(runtime.redis, "mp", "menu/create")) == 2


def test_save_only_does_not_publish_and_an_older_version_never_overwrites_a_newer(client, runtime):
    assert client.post(f"{MENU}/publish").status_code == 409  # nothing saved yet
    client.post(MENU, data={**good_menu(), "action": "save"})
    assert menus(runtime)[0].status == "saved" and "未发布" in page_text(client.get(MENU))
    client.post(f"{MENU}/publish")  # version 1 queued...
    client.post(MENU, data={**good_menu(), "b1_name": "上新", "action": "publish"})  # ...then version 2
    runtime.queue.run_pending()
    first, second = menus(runtime)
    assert (first.status, second.status) == ("superseded", "published")
    assert menu_api.current(runtime.redis)[0]["name"] == "上新"
    assert len(state.list_calls(runtime.redis, "mp", "menu/create")) == 1


def test_the_sandbox_refuses_what_wechat_refuses(runtime):
    from scrm.wechat.errors import WeChatError

    for buttons, errcode in [
        ([], 40016),
        ([{"type": "click", "name": "每周新品上市", "key": "K"}], 40018),
        ([{"type": "click", "name": "新品", "key": ""}], 40019),
        ([{"type": "scan", "name": "新品", "key": "K"}], 40017),
        ([{"name": "更多", "sub_button": [{"type": "click", "name": f"s{i}", "key": "K"} for i in range(6)]}], 40023),
        ([{"name": "更多", "sub_button": [{"type": "view", "name": "s", "url": ""}]}], 40027),
    ]:
        with pytest.raises(WeChatError) as refused:
            runtime.mp.create_menu(buttons)
        assert refused.value.errcode == errcode, buttons
    assert runtime.mp.get_menu() is None  # 46003: none set


def test_the_api_reads_the_newest_menu_in_wechats_shape(client, runtime, auth):
    missing = client.get("/api/menu", headers=auth("manager"))
    assert missing.status_code == 404 and "/console/menu" in missing.get_json()["message"]
    assert client.post(MENU, data={**good_menu(), "action": "save"}).status_code == 302
    answer = client.get("/api/menu", headers=auth("manager"))
    assert answer.status_code == 200
    assert (answer.get_json()["button"], answer.get_json()["status"]) == (WECHAT_JSON, "saved")
    assert client.get("/api/menu", headers=auth("guide", "G1")).status_code == 403
